"""The ReXrank-layout table's extras: published leaderboard rows from a user-supplied CSV, and notes on whether the
runs used the `rexrank` preset's settings (numbers computed otherwise are not comparable with the leaderboard).

Leaderboard CSV: UTF-8, a header with a model column (``model``, ``name`` or ``model name``) and any of the preset's
column labels (``BLEU``, ``BertScore``, ``SembScore``, ``RadGraph``, ``1/RadCliQ-v1``, ``RaTEScore``, ``GREEN``;
case and spaces ignored, e.g. ReXrank's own `results/*.csv` layout); other columns are ignored, an empty or "-" cell
is shown as missing. The values are the user's transcription; the table marks those rows as such.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Sequence

from xgem_bench.presets import REXRANK, Preset

MODEL_COLUMNS = ("model", "name", "model name", "model_name")


def _key(text: str) -> str:
    return "".join(text.split()).lower()


def read_leaderboard(path: str | Path, preset: Preset = REXRANK) -> list[tuple[str, dict[str, float]]]:
    """[(model name, {column label: value})] in file order; ValueError naming the file and row on bad input."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise ValueError(f"cannot read the leaderboard {path}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise ValueError(f"the leaderboard {path} is not UTF-8; re-save it as UTF-8") from error
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        raise ValueError(f"the leaderboard {path} is empty; expected a header with a model column and "
                         f"{', '.join(label for label, _, _ in preset.columns)}")
    header = [_key(h) for h in rows[0]]
    model = next((header.index(_key(m)) for m in MODEL_COLUMNS if _key(m) in header), None)
    wanted = {label: header.index(_key(label)) for label, _, _ in preset.columns if _key(label) in header}
    if model is None or not wanted:
        raise ValueError(f"the leaderboard {path} has the header {rows[0]}: it needs a model column "
                         f"({', '.join(MODEL_COLUMNS)}) and at least one of "
                         f"{', '.join(label for label, _, _ in preset.columns)}")
    board = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        values = {}
        for label, column in wanted.items():
            cell = row[column].strip() if column < len(row) else ""
            if cell in ("", "-"):
                continue
            try:
                values[label] = float(cell)
            except ValueError:
                raise ValueError(f"{path}, row {number}: {label} is {cell!r}, not a number") from None
        board.append((row[model].strip(), values))
    return board


def preset_notes(runs: Sequence[dict], preset: Preset = REXRANK) -> list[str]:
    """Which runs used the preset, and every metric of the table scored with other settings than the preset's."""
    notes = []
    others = sorted({run.get("run_id", "?") for run in runs if run.get("preset") != preset.name})
    if others:
        notes.append(f"Runs {', '.join(others)} were not made with --preset {preset.name}.")
    differing: dict[str, set[str]] = {}
    for run in runs:
        for entry in run.get("models", {}).values():
            for record in entry.get("metrics", {}).values():
                expected = preset.metrics.get(record.get("metric"), None)
                if expected is None or record.get("status") != "ok":
                    continue
                settings = record.get("settings", {})
                changed = [f"{k}={settings.get(k)!r}" for k, v in expected.items() if settings.get(k) != v]
                if changed:
                    differing.setdefault(record["metric"], set()).update(changed)
    for metric, changed in sorted(differing.items()):
        notes.append(f"{metric} ran with {', '.join(sorted(changed))}, not the {preset.name} setting: its column is "
                     "not comparable with the leaderboard.")
    return notes
