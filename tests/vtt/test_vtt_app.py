"""The rating app through Flask's test client: private tokens, saving, isolation between raters, and nothing on any
page or asset that tells real from synthetic."""
import re
import secrets
import sqlite3

import pytest

from xgem_bench.vtt.app import create_app


@pytest.fixture
def client(session):
    return create_app(session.path).test_client()


def _item(client, token, position):
    page = client.get(f"/r/{token}/item/{position}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    return html, re.search(r'name="item" value="([0-9a-f]{32})"', html).group(1)


def _ratings(session):
    with sqlite3.connect(session.path) as connection:
        return connection.execute("SELECT rater_id, item_id, score, n_changes FROM ratings ORDER BY 1, 2").fetchall()


def test_unknown_guessed_and_foreign_tokens_see_nothing(client, session, demo_runs, tmp_path):
    from xgem_bench.vtt.build import create_session
    other = create_session(demo_runs, tmp_path / "other.db", items=2, raters=1, progress=False)
    token = session.tokens[0]
    _, item = _item(client, token, 0)
    for bad in (secrets.token_urlsafe(24), other.tokens[0], token[:-1], token.upper(), "' OR 1=1 --", "%00"):
        for url in (f"/r/{bad}/", f"/r/{bad}/item/0", f"/r/{bad}/done"):
            response = client.get(url)
            assert response.status_code == 404 and "not valid" in response.get_data(as_text=True)
        assert client.post(f"/r/{bad}/rate", data={"item": item, "score": "3"}).status_code == 404
    assert _ratings(session) == []


def test_every_click_is_saved_once_and_double_submissions_change_nothing(client, session):
    token = session.tokens[0]
    assert client.get(f"/r/{token}/").headers["Location"].endswith("/item/0")
    _, item = _item(client, token, 0)
    for _ in range(2):  # a double click
        response = client.post(f"/r/{token}/rate", data={"item": item, "score": "4"})
        assert response.status_code == 303 and response.headers["Location"].endswith("/item/1")
    assert _ratings(session) == [(1, item, 4, 0)]
    client.post(f"/r/{token}/rate", data={"item": item, "score": "2"})  # a changed mind
    assert _ratings(session) == [(1, item, 2, 1)]
    html, _ = _item(client, token, 0)
    assert 'id="score-2"\n          class="score chosen"' in html and "Saved: 2" in html
    assert client.get(f"/r/{token}/").headers["Location"].endswith("/item/1")  # resume: first unrated item
    for bad in ("0", "6", "3.5", "", "five"):
        assert client.post(f"/r/{token}/rate", data={"item": item, "score": bad}).status_code == 400
    assert client.post(f"/r/{token}/rate", data={"item": "f" * 32, "score": "3"}).status_code == 404
    assert client.get(f"/r/{token}/item/20").status_code == 404
    assert _ratings(session) == [(1, item, 2, 1)]


def test_a_rater_cannot_read_or_change_another_raters_answers(client, session):
    first, second = session.tokens[:2]
    _, item = _item(client, first, 0)
    client.post(f"/r/{first}/rate", data={"item": item, "score": "5"})
    for position in range(20):  # the second rater's every page: nothing chosen, nothing saved
        html, _ = _item(client, second, position)
        assert "chosen" not in html and "Saved:" not in html
    client.post(f"/r/{second}/rate", data={"item": item, "score": "1"})  # the same item, in the second's order
    assert sorted(r[:3] for r in _ratings(session)) == [(1, item, 5), (2, item, 1)]


def test_path_traversal_and_unknown_images_are_refused(client, session):
    token = session.tokens[0]
    for url in (f"/r/{token}/img/../../../../etc/passwd", f"/r/{token}/img/..%2F..%2Fsession.db",
                f"/r/{token}/img/%2e%2e%2f%2e%2e%2fetc%2fpasswd", f"/r/{token}/img/" + "0" * 32,
                f"/r/{token}/img/" + "A" * 32, "/static/../store.py", "/static/..%2fstore.py",
                "/static/%2e%2e/app.py", f"/r/{token}/../../session.db"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"import" not in response.data and b"root:" not in response.data and b"SQLite" not in response.data


def _crawl(client, token):
    """Every response a rater can reach from their link: item pages, images, assets, the end page."""
    responses = {}
    for position in range(20):
        url = f"/r/{token}/item/{position}"
        responses[url] = client.get(url)
        html = responses[url].get_data(as_text=True)
        for link in re.findall(r'(?:src|href)="([^"]+)"', html):
            responses.setdefault(link, client.get(link))
    responses["done"] = client.get(f"/r/{token}/done")
    return responses


def test_no_page_or_asset_tells_real_from_synthetic_and_the_key_is_never_served(client, session):
    import inspect

    import xgem_bench.vtt.app as app_module
    from xgem_bench.vtt.store import RaterStore
    assert "answer_key" not in inspect.getsource(app_module) + inspect.getsource(RaterStore)
    with sqlite3.connect(session.path) as connection:
        secrets_in_key = {v for row in connection.execute("SELECT model, run_id, study_id FROM answer_key")
                          for v in row if v}
        truth = dict(connection.execute("SELECT item_id, truth FROM answer_key"))
    responses = _crawl(client, session.tokens[0])
    images = {url: r for url, r in responses.items() if "/img/" in url}
    assert len(images) > 20
    assert len({len(r.data) for r in images.values()}) == 1
    assert {r.headers["Content-Type"] for r in images.values()} == {"image/png"}
    for url, response in responses.items():
        assert response.status_code == 200, url
        assert "Last-Modified" not in response.headers and "ETag" not in response.headers or "/static/" in url
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
        body = response.get_data(as_text=True) if "/img/" not in url else ""
        for secret in secrets_in_key | {"synthetic", "answer_key", "retrieval", "shuffled", "oracle"}:
            assert secret not in body, (url, secret)
    # the page of a real and of a synthetic item of one task differ only in their ids, text and counters
    shapes = {}
    for url, response in responses.items():
        if "/item/" not in url:
            continue
        html = response.get_data(as_text=True)
        item = re.search(r'name="item" value="([0-9a-f]{32})"', html).group(1)
        task = re.search(r'<h1 id="question">([^<]+)</h1>', html).group(1)
        shape = re.sub(r"[0-9a-f]{32}|\d+|<p id=\"report\">[^<]*</p>|previous|next|Previous|Next", "", html)
        shape = re.sub(r'<a id="[^"]*" href="[^"]*">[^<]*</a>', "", shape)
        shapes.setdefault((task, shape), set()).add(truth[item])
    assert all(found == {"real", "synthetic"} for found in shapes.values()), [k[0] for k in shapes]


def test_commands_refuse_bad_files_with_one_clear_line(tmp_path):
    from typer.testing import CliRunner

    from xgem_bench.cli import app

    not_a_session = tmp_path / "notes.txt"
    not_a_session.write_text("hello")
    for args, message in ((["serve", str(tmp_path / "missing.db")], "vtt create"),
                          (["serve", str(not_a_session)], "not a VTT session file"),
                          (["results", str(not_a_session), "--out", str(tmp_path / "o")], "not a VTT session file"),
                          (["create", str(tmp_path / "no-run"), "--out", str(tmp_path / "s.db")],
                           "not a finished xgem-bench run")):
        result = CliRunner().invoke(app, ["vtt", *args])
        assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "s.db").exists() and not (tmp_path / "o").exists()


def test_concurrent_raters_lose_no_answer(session):
    """Three raters rating all their items at once (WAL mode, one connection per request)."""
    from concurrent.futures import ThreadPoolExecutor

    app = create_app(session.path)
    work = [(token, _item(app.test_client(), token, position)[1]) for token in session.tokens
            for position in range(20)]

    def post(job):
        return app.test_client().post(f"/r/{job[0]}/rate", data={"item": job[1], "score": "3"}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert set(pool.map(post, work)) == {303}
    assert len(_ratings(session)) == 60


def test_a_missing_vtt_extra_is_named_with_its_install_command(monkeypatch):
    import importlib.util

    from xgem_bench.vtt import missing_packages_reason
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "waitress" else real(name, *a))
    assert missing_packages_reason() == "the VTT platform needs waitress: pip install 'xgem-bench[vtt]'"
    monkeypatch.undo()
    assert missing_packages_reason() is None
