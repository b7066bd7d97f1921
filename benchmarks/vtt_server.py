"""Cost of the Visual Turing Test platform on a paper-sized session (run by hand):

    XGEM_BENCH_CACHE=/tmp/vtt-bench .venv/bin/python benchmarks/vtt_server.py [--items 20] [--raters 3]

Makes the two demo runs (L+T->F, L->F+T; retrieval and shuffled), times `vtt create`, then serves the session with
waitress on 127.0.0.1 and times, over HTTP: an item page, an image, a saved rating (each sequential, median), and all
raters rating every item at once from parallel threads (saves per second). The browser's share per item (page +
images as Chromium shows them) is measured by tests/vtt/test_vtt_browser.py.
"""
from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import xgem_bench
from xgem_bench.vtt.app import rater_links, start_server
from xgem_bench.vtt.build import create_session


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def _post(url: str, item: str, score: int) -> None:
    data = urllib.parse.urlencode({"item": item, "score": score}).encode()
    with urllib.request.urlopen(url, data=data, timeout=30) as response:
        response.read()


def _median_ms(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--raters", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        runs = [xgem_bench.run(task, models=["retrieval", "shuffled"], dataset="demo", metrics="pixel-mae",
                               out=Path(folder) / "runs", progress=False).run_dir for task in ("L+T->F", "L->F+T")]
        start = time.perf_counter()
        session = create_session(runs, Path(folder) / "session.db", items=args.items, raters=args.raters,
                                 progress=False)
        created = time.perf_counter() - start
        n_items = sum(session.n_items.values())
        server = start_server(session.path, port=0)
        threading.Thread(target=server.run, daemon=True).start()
        links = [link for _, link in rater_links(session.path, f"http://127.0.0.1:{server.effective_port}")]
        page = _get(links[0] + "item/0").decode()
        image = re.search(r'src="(/r/[^"]+/img/[0-9a-f]+)"', page).group(1)
        item = re.search(r'name="item" value="([0-9a-f]{32})"', page).group(1)
        base = links[0].split("/r/")[0]
        page_ms = _median_ms(lambda: _get(links[0] + "item/0"), 50)
        image_ms = _median_ms(lambda: _get(base + image), 50)
        rate_ms = _median_ms(lambda: _post(links[0] + "rate", item, 3), 50)  # includes the redirected next page
        work = []
        for link in links:
            for position in range(n_items):
                html = _get(f"{link}item/{position}").decode()
                work.append((link, re.search(r'name="item" value="([0-9a-f]{32})"', html).group(1)))
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda job: _post(job[0] + "rate", job[1], 4), work))
        concurrent = time.perf_counter() - start
        server.close()
    print(f"vtt create: {n_items} items x {args.raters} raters in {created:.1f} s; over HTTP (waitress, 127.0.0.1): "
          f"item page {page_ms:.1f} ms, image {image_ms:.1f} ms, save + next page {rate_ms:.1f} ms (medians of 50); "
          f"{len(work)} saves from 8 threads at once in {concurrent:.2f} s ({len(work) / concurrent:.0f}/s)")


if __name__ == "__main__":
    main()
