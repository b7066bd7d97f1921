"""The extended table: its declarative columns, values read from the runs, intervals, and left-out columns named."""
import numpy as np
import pytest

from xgem_bench import extended_table
from xgem_bench.metrics import METRICS
from xgem_bench.table_render import render
from xgem_bench.tables import build_table

from reporting_fixtures import make_run, mean_metric


def test_every_declared_column_names_a_registered_metric_and_a_known_panel():
    for panel, _, metric, _ in extended_table.EXTENDED_COLUMNS:
        assert metric in METRICS and panel in extended_table.PANEL_TASKS


def test_values_intervals_and_left_out_columns(tmp_path):
    rng = np.random.default_rng(1)
    models = {name: {"metrics": {"rouge/T": mean_metric(rng, 30, loc, "rougeL"),
                                 "cider/T": mean_metric(rng, 30, 3 * loc, "cider")}}
              for name, loc in [("xgem", 0.4), ("retrieval", 0.3)]}
    run = make_run(tmp_path, "r", "F->T", models)
    table = build_table("extended", [run], ci={"n_resamples": 200, "level": 0.95, "seed": 0})
    panel, = table.panels
    assert [label for _, label in panel.headers] == ["ROUGE-1", "ROUGE-2", "ROUGE-L", "CIDEr-D"]
    row = {r.model: r for r in panel.rows}["xgem"]
    assert row.cells[0].mark == "n/a"  # the fixture's rouge recorded no rouge1
    assert row.cells[3].value == pytest.approx(models["xgem"]["metrics"]["cider/T"][0]["cider"])
    assert row.cells[3].low < row.cells[3].value < row.cells[3].high
    assert any("METEOR" in note and "left out" in note for note in table.notes)
    assert "| F->T | xgem |" in render(table, "md")


def test_no_recorded_metric_is_a_clear_error(tmp_path):
    run = make_run(tmp_path, "r", "F->T", {"xgem": {"metrics": {"bleu/T": ({"bleu4": 0.1}, {}, True)}}})
    with pytest.raises(ValueError, match="would be empty"):
        build_table("extended", [run])
