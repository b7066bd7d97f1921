"""The rating app (Flask, served by waitress): one item at a time, private links, answers saved on every click.

Routes (all under a rater's private token; anything else is 404):
  /r/TOKEN/               resume: the first item this rater has not rated, or the end page
  /r/TOKEN/item/N         item N (0-based) of this rater's own order
  /r/TOKEN/rate           POST item=ID score=1..5: saved at once, then the next item
  /r/TOKEN/img/IMAGE_ID   a re-encoded PNG shown on one of the items
The app reads the session only through `RaterStore`, which cannot read the answer key.
"""
from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from xgem_bench.vtt.protocol import SCALE, SCALE_ANCHORS, TASKS_BY_ID
from xgem_bench.vtt.store import RaterStore, connect, read_meta

IMAGE_ID = re.compile(r"[0-9a-f]{32}")
ITEM_ID = IMAGE_ID
NOT_FOUND = "This link is not valid. Ask the organiser of the study for your private link."
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the URL: never send it elsewhere
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def create_app(session: str | Path):
    """The Flask app of one session file (checked now: a wrong path fails before the server starts)."""
    from flask import Flask, abort, g, redirect, render_template, request, url_for

    session = Path(session)
    probe = connect(session)
    meta = read_meta(probe)
    probe.close()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 4096  # a rating is a few bytes
    task_numbers = {task_id: n for n, task_id in enumerate(meta["tasks"], 1)}

    def store() -> RaterStore:
        if "store" not in g:
            g.store = RaterStore(connect(session))
        return g.store

    @app.teardown_appcontext
    def _close(_error):
        found = g.pop("store", None)
        if found is not None:
            found.connection.close()

    @app.after_request
    def _headers(response):
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.errorhandler(404)
    def _not_found(_error):
        return render_template("message.html", title="Not found", message=NOT_FOUND), 404

    @app.errorhandler(sqlite3.OperationalError)
    def _busy(_error):  # the database stayed locked past the timeout: nothing was saved, say so
        return render_template("message.html", title="Busy", message="The server is busy and did not save this "
                               "answer. Go back and click the score again."), 503

    def rater_of(token: str):
        rater = store().rater(token)
        if rater is None:
            abort(404)
        return rater

    @app.get("/")
    def index():
        return render_template("message.html", title="Visual Turing Test",
                               message="Open the private link you were sent to start or resume rating.")

    @app.get("/r/<token>/")
    def resume(token: str):
        rater = rater_of(token)
        position = store().first_unrated(rater)
        if position is None:
            return redirect(url_for("done", token=token), 303)
        return redirect(url_for("item", token=token, position=position), 303)

    @app.get("/r/<token>/item/<int:position>")
    def item(token: str, position: int):
        rater = rater_of(token)
        shown = store().item_at(rater, position)
        if shown is None:
            abort(404)
        task = TASKS_BY_ID[shown.task]
        place, in_task = store().task_progress(rater, shown.task, position)
        return render_template(
            "item.html", token=token, item=shown, task=task, scale=SCALE, anchors=SCALE_ANCHORS,
            task_number=task_numbers[shown.task], n_tasks=len(task_numbers), place=place, in_task=in_task,
            n_items=store().n_items(rater), n_rated=store().n_rated(rater))

    @app.post("/r/<token>/rate")
    def rate(token: str):
        rater = rater_of(token)
        item_id = request.form.get("item", "")
        score = request.form.get("score", "")
        position = store().position_of(rater, item_id) if ITEM_ID.fullmatch(item_id) else None
        if position is None:
            abort(404)
        if score not in {str(s) for s in SCALE}:
            return render_template("message.html", title="Not saved",
                                   message=f"A score is one of {', '.join(map(str, SCALE))}; go back and click one."
                                   ), 400
        store().save(rater, item_id, int(score))
        if store().item_at(rater, position + 1) is not None:
            return redirect(url_for("item", token=token, position=position + 1), 303)
        return redirect(url_for("resume", token=token), 303)

    @app.get("/r/<token>/done")
    def done(token: str):
        rater = rater_of(token)
        n_items, n_rated = store().n_items(rater), store().n_rated(rater)
        return render_template("done.html", token=token, n_items=n_items, n_rated=n_rated,
                               first_unrated=store().first_unrated(rater))

    @app.get("/r/<token>/img/<image_id>")
    def image(token: str, image_id: str):
        from flask import Response
        rater_of(token)
        png = store().image_png(image_id) if IMAGE_ID.fullmatch(image_id) else None
        if png is None:
            abort(404)
        return Response(png, mimetype="image/png")

    return app


def start_server(session: str | Path, host: str = "127.0.0.1", port: int = 8000, threads: int = 8):
    """A waitress server for the session, bound but not yet serving: call `.run()`; `.effective_port` is the port
    (useful with port 0)."""
    from waitress import create_server
    return create_server(create_app(session), host=host, port=port, threads=threads, ident="")


def rater_links(session: str | Path, base_url: str) -> list[tuple[str, str]]:
    """(label, private link) per rater: for the organiser's console only."""
    connection = connect(session)
    try:
        rows = connection.execute("SELECT label, token FROM raters ORDER BY rater_id").fetchall()
    finally:
        connection.close()
    return [(label, f"{base_url.rstrip('/')}/r/{token}/") for label, token in rows]
