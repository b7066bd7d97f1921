"""A VTT session is one SQLite file (WAL mode, so several raters can save at once).

Tables: `meta` (settings), `raters` (private tokens), `items` (what a rater sees: task, report text, image ids),
`images` (re-encoded PNG bytes), `assignments` (each rater's own item order), `ratings` (one row per rater and item,
rewritten on every click) and `answer_key` (which item is synthetic, from which model, run and study).

The rating app reads through `RaterStore` only, which has no query on `answer_key`; the key is read by
`xgem_bench.vtt.results` and by `vtt create`.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE raters (rater_id INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE, label TEXT NOT NULL);
CREATE TABLE items (item_id TEXT PRIMARY KEY, task TEXT NOT NULL, report TEXT, images TEXT NOT NULL);
CREATE TABLE images (image_id TEXT PRIMARY KEY, png BLOB NOT NULL);
CREATE TABLE assignments (rater_id INTEGER NOT NULL REFERENCES raters, position INTEGER NOT NULL,
                          item_id TEXT NOT NULL REFERENCES items, PRIMARY KEY (rater_id, position),
                          UNIQUE (rater_id, item_id));
CREATE TABLE ratings (rater_id INTEGER NOT NULL REFERENCES raters, item_id TEXT NOT NULL REFERENCES items,
                      score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5), first_saved REAL NOT NULL,
                      last_saved REAL NOT NULL, n_changes INTEGER NOT NULL DEFAULT 0,
                      PRIMARY KEY (rater_id, item_id));
CREATE TABLE answer_key (item_id TEXT PRIMARY KEY REFERENCES items, truth TEXT NOT NULL
                         CHECK (truth IN ('real', 'synthetic')), model TEXT, run_id TEXT NOT NULL,
                         source_task TEXT NOT NULL, study_id TEXT NOT NULL, views TEXT NOT NULL);
"""
BUSY_TIMEOUT_S = 30


def connect(path: str | Path) -> sqlite3.Connection:
    """Open an existing session file (never creates one: a mistyped path is an error, not an empty session)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is not a VTT session file; create one with `xgem-bench vtt create RUN... "
                                f"--out {path}`")
    connection = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S,
                                 check_same_thread=False)
    connection.execute("PRAGMA foreign_keys = ON")
    try:
        version = connection.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
    except sqlite3.DatabaseError as error:
        connection.close()
        raise ValueError(f"{path} is not a VTT session file ({error}); create one with `xgem-bench vtt create`") \
            from None
    if version is None or int(version[0]) != SCHEMA_VERSION:
        connection.close()
        raise ValueError(f"{path} has VTT session schema {version and version[0]}; this xgem-bench reads "
                         f"{SCHEMA_VERSION}")
    return connection


def read_meta(connection: sqlite3.Connection) -> dict:
    return {name: json.loads(value) for name, value in connection.execute("SELECT name, value FROM meta")}


@dataclass(frozen=True)
class Rater:
    rater_id: int
    label: str


@dataclass(frozen=True)
class ShownItem:
    """What a rater's page may show of an item (never its truth, model or study)."""
    item_id: str
    task: str
    report: str | None
    images: list[dict]  # [{"id": image id, "view": "Frontal" | "Lateral"}]
    position: int       # 0-based in this rater's order
    score: int | None   # this rater's saved answer


class RaterStore:
    """Everything the rating app may read or write; scoped to one rater by the token."""

    def __init__(self, connection: sqlite3.Connection):
        self.connection = connection

    def rater(self, token: str) -> Rater | None:
        row = self.connection.execute("SELECT rater_id, label FROM raters WHERE token = ?", (token,)).fetchone()
        return Rater(*row) if row else None

    def n_items(self, rater: Rater) -> int:
        return self.connection.execute("SELECT COUNT(*) FROM assignments WHERE rater_id = ?",
                                       (rater.rater_id,)).fetchone()[0]

    def n_rated(self, rater: Rater) -> int:
        return self.connection.execute("SELECT COUNT(*) FROM ratings WHERE rater_id = ?",
                                       (rater.rater_id,)).fetchone()[0]

    def first_unrated(self, rater: Rater) -> int | None:
        row = self.connection.execute(
            "SELECT MIN(a.position) FROM assignments a LEFT JOIN ratings r "
            "ON r.rater_id = a.rater_id AND r.item_id = a.item_id WHERE a.rater_id = ? AND r.score IS NULL",
            (rater.rater_id,)).fetchone()
        return row[0]

    def item_at(self, rater: Rater, position: int) -> ShownItem | None:
        row = self.connection.execute(
            "SELECT i.item_id, i.task, i.report, i.images, r.score FROM assignments a JOIN items i USING (item_id) "
            "LEFT JOIN ratings r ON r.rater_id = a.rater_id AND r.item_id = a.item_id "
            "WHERE a.rater_id = ? AND a.position = ?", (rater.rater_id, position)).fetchone()
        if row is None:
            return None
        return ShownItem(row[0], row[1], row[2], json.loads(row[3]), position, row[4])

    def task_progress(self, rater: Rater, task: str, position: int) -> tuple[int, int]:
        """(1-based place of `position` among this rater's items of `task`, number of items of `task`)."""
        rows = self.connection.execute(
            "SELECT a.position FROM assignments a JOIN items i USING (item_id) WHERE a.rater_id = ? AND i.task = ? "
            "ORDER BY a.position", (rater.rater_id, task)).fetchall()
        places = [r[0] for r in rows]
        return places.index(position) + 1, len(places)

    def position_of(self, rater: Rater, item_id: str) -> int | None:
        row = self.connection.execute("SELECT position FROM assignments WHERE rater_id = ? AND item_id = ?",
                                      (rater.rater_id, item_id)).fetchone()
        return row[0] if row else None

    def save(self, rater: Rater, item_id: str, score: int) -> None:
        """Insert or overwrite this rater's answer (a repeated click or a double submission changes nothing)."""
        now = time.time()
        with self.connection:
            self.connection.execute(
                "INSERT INTO ratings (rater_id, item_id, score, first_saved, last_saved) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (rater_id, item_id) DO UPDATE SET "
                "n_changes = n_changes + (score != excluded.score), score = excluded.score, "
                "last_saved = excluded.last_saved", (rater.rater_id, item_id, score, now, now))

    def image_png(self, image_id: str) -> bytes | None:
        """The PNG of an image shown in this session (the same images are shown to every rater)."""
        row = self.connection.execute("SELECT png FROM images WHERE image_id = ?", (image_id,)).fetchone()
        return bytes(row[0]) if row else None
