"""End to end in a real browser: `vtt create` on demo runs, `vtt serve` as its own process, a rater in headless
Chromium (Debian's chromium + chromium-driver, driven by Selenium) rates, closes the browser, resumes, survives a
server restart and finishes; a second rater sees none of it; concurrent raters lose nothing; `vtt results` reads it.

Artifacts: a screenshot of a rating page and the measured time per item, copied to $XGEM_BENCH_TEST_ARTIFACTS
(default results/test-artifacts/ in the checkout): vtt-rating-page.png, vtt-browser-timing.json.
"""
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="no Chromium here: apt-get install chromium "
                       "chromium-driver (.ci/run installs them, so CI runs this test)"),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is missing: pip install -e '.[dev]'")
ARTIFACTS = Path(os.environ.get("XGEM_BENCH_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "results" /
                                "test-artifacts"))
ITEMS_PER_TASK = 2  # 10 items per rater


class Server:
    """`xgem-bench vtt serve SESSION --port 0` in its own process; its URL and the raters' links from its output."""

    def __init__(self, session: Path):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "xgem_bench.cli", "vtt", "serve", str(session),
                                         "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, env=env)
        self.links, lines = [], []
        deadline = time.time() + 60
        while len(self.links) < 3 and time.time() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            lines.append(line)
            self.links += re.findall(r"rater \d: (http://127\.0\.0\.1:\d+/r/\S+/)", line)
        assert len(self.links) == 3, "".join(lines)

    def stop(self):
        self.process.kill()  # as abrupt as a crash: answers must already be in the file
        self.process.wait(timeout=30)


def _browser():
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1100"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _rate(driver, score: int) -> float:
    """Click a score on the current item; seconds until the next page is shown (the platform's share of an item)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    before = driver.current_url
    started = time.perf_counter()
    driver.find_element(By.ID, f"score-{score}").click()
    WebDriverWait(driver, 20).until(expected_conditions.url_changes(before))
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")
    WebDriverWait(driver, 20).until(lambda d: all(d.execute_script(
        "return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")))
    return time.perf_counter() - started


def _position(driver) -> int:
    return int(re.search(r"/item/(\d+)$", driver.current_url).group(1))


def test_a_rater_rates_closes_resumes_survives_a_restart_and_finishes(demo_runs, tmp_path):
    from selenium.webdriver.common.by import By

    from xgem_bench.cli import app

    session = tmp_path / "session.db"
    created = CliRunner().invoke(app, ["vtt", "create", *map(str, demo_runs), "--items", str(ITEMS_PER_TASK),
                                       "--raters", "3", "--out", str(session), "-q"])
    assert created.exit_code == 0, created.output
    server = Server(session)
    given, timings = {}, []
    driver = _browser()
    try:
        driver.get(server.links[0])
        assert _position(driver) == 0
        image = driver.find_element(By.CSS_SELECTOR, "img.xray")
        image.click()  # zoom
        assert image.get_attribute("style").startswith("width: 200%")
        for position in range(5):
            if position == 4:  # report beside a frontal + lateral pair: the richest page
                shot = tmp_path / "vtt-rating-page.png"
                assert driver.save_screenshot(str(shot))
            given[position] = 1 + position % 5
            timings.append(_rate(driver, given[position]))
    finally:
        driver.quit()  # the rater closes the browser

    driver = _browser()
    try:
        driver.get(server.links[0])  # ... and comes back: the first unrated item
        assert _position(driver) == 5
        driver.find_element(By.ID, "previous").click()
        assert _position(driver) == 4
        assert "chosen" in driver.find_element(By.ID, f"score-{given[4]}").get_attribute("class")

        server.stop()  # the server dies mid-session and is started again (on another port)
        server = Server(session)
        driver.get(server.links[0])
        assert _position(driver) == 5
        for position in range(5, 10):
            given[position] = 5 - position % 5
            timings.append(_rate(driver, given[position]))
        assert "all 10 items are rated" in driver.find_element(By.ID, "done").text

        driver.get(server.links[1])  # the second rater: none of the first rater's answers
        for position in range(10):
            driver.get(re.sub(r"/$", f"/item/{position}", server.links[1]))
            assert not driver.find_elements(By.CSS_SELECTOR, ".score.chosen")
            assert "Saved:" not in driver.page_source
    finally:
        driver.quit()

    with sqlite3.connect(session) as connection:
        saved = connection.execute("SELECT a.position, r.score FROM ratings r JOIN assignments a USING "
                                   "(rater_id, item_id) WHERE r.rater_id = 1 ORDER BY 1").fetchall()
    assert dict(saved) == given

    # raters 2 and 3 at once, ten answers each in parallel threads: none lost
    def post(args):
        link, item, score = args
        data = urllib.parse.urlencode({"item": item, "score": score}).encode()
        with urllib.request.urlopen(link + "rate", data=data, timeout=30) as response:
            return response.status

    with sqlite3.connect(session) as connection:
        work = [(server.links[r - 1], item, 1 + (r + p) % 5) for r, item, p in connection.execute(
            "SELECT rater_id, item_id, position FROM assignments WHERE rater_id IN (2, 3)")]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(post, work)) == {200}
    server.stop()
    with sqlite3.connect(session) as connection:
        assert connection.execute("SELECT COUNT(*) FROM ratings").fetchone()[0] == 30

    shown = CliRunner().invoke(app, ["vtt", "results", str(session), "--out", str(tmp_path / "results")])
    assert shown.exit_code == 0, shown.output
    assert "Coherence Between X-ray Pairs" in shown.output and "rater 1 10/10" in shown.output

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "vtt-rating-page.png", ARTIFACTS / "vtt-rating-page.png")
    measured = {"what": "seconds from clicking a score to the next item fully shown (save + page + images), "
                        "headless Chromium on the demo session; a rater's own reading time comes on top",
                "items": len(timings), "median_s": statistics.median(timings), "mean_s": statistics.fmean(timings),
                "max_s": max(timings)}
    (ARTIFACTS / "vtt-browser-timing.json").write_text(json.dumps(measured, indent=2) + "\n")
    print(f"\nVTT time per item in the browser: median {measured['median_s']:.3f} s, mean "
          f"{measured['mean_s']:.3f} s over {len(timings)} items; screenshot {ARTIFACTS / 'vtt-rating-page.png'}")
