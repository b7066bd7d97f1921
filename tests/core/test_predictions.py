"""`run --predictions NAME=PATH` and `data export`: outputs generated elsewhere, scored like any adapter.

Reference: predictions that are the studies' own real outputs must score exactly what the oracle adapter scores
(pixel MAE 0 up to 16-bit PNG quantisation, token F1 1.0); anything else a prediction file holds is checked against
values computed here from the files themselves.
"""
import csv
import json

import numpy as np
import pytest
from core_fixtures import tiny_dataset
from typer.testing import CliRunner

from xgem_bench.adapters.predictions import PredictionsAdapter, PredictionsError
from xgem_bench.cli import app
from xgem_bench.data import load_dataset
from xgem_bench.data.export import export_inputs
from xgem_bench.data.images import save_png
from xgem_bench.runner import RunError, run
from xgem_bench.tasks import Modality, parse_task

QUANTUM = 1 / 65535  # 16-bit PNG step


def _test_studies(ds):
    return [ds.load(int(i)) for i in ds.indices("test")]


def _write_reports(path, rows, header=("study_id", "report")):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_folder_of_real_images_scores_like_the_oracle_and_counts_missing_studies(tmp_path):
    ds = tiny_dataset(size=256)
    studies = _test_studies(ds)
    folder = tmp_path / "mine"
    folder.mkdir()
    for study in studies[1:]:  # the first test study has no prediction
        save_png(folder / f"{study.study_id}.png", study.frontal)
    res = run("T->F", models=["oracle"], predictions={"mine": folder}, dataset=ds, out=tmp_path / "runs",
              metrics=["pixel-mae"], progress=False).results
    mine = res["models"]["mine"]
    assert mine["status"] == "ok" and mine["adapter"] == "predictions"
    assert mine["n_generated"] == len(studies) - 1 and mine["n_failed"] == 1
    assert mine["diagnostics"] == {"missing_predictions": 1}
    assert "no prediction for study 's002'" in mine["failures"][0]["error"]
    assert mine["metrics"]["pixel-mae/F"]["values"]["pixel_mae"] <= QUANTUM / 2
    assert res["models"]["oracle"]["metrics"]["pixel-mae/F"]["values"]["pixel_mae"] == 0.0
    assert mine["checkpoint_id"].startswith("predictions-sha256=")


def test_sub_folders_and_reports_csv_for_joint_and_text_tasks(tmp_path):
    ds = tiny_dataset(size=256)
    studies = _test_studies(ds)
    folder = tmp_path / "joint"
    for view in ("F", "L"):
        (folder / view).mkdir(parents=True)
    for study in studies:
        save_png(folder / "F" / f"{study.study_id}.png", study.frontal)
        save_png(folder / "L" / f"{study.study_id}.png", 1 - study.lateral)  # inverted: MAE = mean |1 - 2x|
    _write_reports(folder / "reports.csv", [(s.study_id, s.report) for s in studies])
    res = run("T->F+L", predictions={"joint": folder}, dataset=ds, out=tmp_path / "r", metrics=["pixel-mae"],
              progress=False).results
    metrics = res["models"]["joint"]["metrics"]
    assert metrics["pixel-mae/F"]["values"]["pixel_mae"] <= QUANTUM / 2
    expected = np.mean([np.abs(1 - 2 * s.lateral).mean() for s in studies])
    assert metrics["pixel-mae/L"]["values"]["pixel_mae"] == pytest.approx(expected, abs=QUANTUM)
    text = run("F->T", predictions={"joint": folder}, dataset=ds, out=tmp_path / "r", metrics=["token-f1"],
               progress=False).results
    assert text["models"]["joint"]["metrics"]["token-f1/T"]["values"]["token_f1"] == 1.0


def test_csv_with_renamed_columns_and_image_paths(tmp_path):
    ds = tiny_dataset(size=256)
    studies = _test_studies(ds)
    (tmp_path / "png").mkdir()
    rows = []
    for i, study in enumerate(studies):
        save_png(tmp_path / "png" / f"{i}.png", study.lateral)
        rows.append((study.study_id, f"png/{i}.png", "wrong words" if i == 0 else study.report))
    table = _write_reports(tmp_path / "preds.csv", rows, header=("id", "lat_path", "generated"))
    options = {"theirs": {"id_column": "id", "lateral_column": "lat_path", "report_column": "generated"}}
    res = run("F->L+T", predictions={"theirs": table}, model_settings=options, dataset=ds, out=tmp_path / "r",
              metrics=["pixel-mae", "token-f1"], progress=False).results
    metrics = res["models"]["theirs"]["metrics"]
    assert metrics["pixel-mae/L"]["values"]["pixel_mae"] <= QUANTUM / 2
    assert metrics["token-f1/T"]["values"]["token_f1"] == pytest.approx((len(studies) - 1) / len(studies))
    assert res["models"]["theirs"]["settings"]["report_column"] == "generated"


def test_edited_prediction_files_are_never_scored_from_the_stale_cache(tmp_path):
    ds = tiny_dataset(size=256)
    studies = _test_studies(ds)
    folder = tmp_path / "mine"
    folder.mkdir()
    for study in studies:
        save_png(folder / f"{study.study_id}.png", study.frontal)
    first = run("T->F", predictions={"mine": folder}, dataset=ds, out=tmp_path / "r", metrics=["pixel-mae"],
                progress=False).results["models"]["mine"]
    save_png(folder / f"{studies[0].study_id}.png", np.zeros((256, 256), np.float32))
    second = run("T->F", predictions={"mine": folder}, dataset=ds, out=tmp_path / "r", metrics=["pixel-mae"],
                 progress=False).results["models"]["mine"]
    assert first["checkpoint_id"] != second["checkpoint_id"] and first["cache_key"] != second["cache_key"]
    expected = studies[0].frontal.mean() / len(studies)
    assert second["metrics"]["pixel-mae/F"]["values"]["pixel_mae"] == pytest.approx(expected, abs=QUANTUM)


@pytest.mark.parametrize("make, message", [
    (lambda root: root / "nowhere", "does not exist"),
    (lambda root: (root / "empty").mkdir() or root / "empty", "needs sub-folders F/ and L/"),
])
def test_bad_layouts_fail_before_any_run_folder(tmp_path, make, message):
    with pytest.raises(PredictionsError, match=message):
        run("T->F+L", predictions={"mine": make(tmp_path)}, dataset=tiny_dataset(), out=tmp_path / "runs",
            progress=False)
    assert not (tmp_path / "runs").exists()


def test_wrong_column_name_and_name_clash_are_errors(tmp_path):
    table = _write_reports(tmp_path / "p.csv", [("s001", "text")])
    with pytest.raises(PredictionsError, match=r"report_column"):
        run("F->T", predictions={"mine": table}, model_settings={"mine": {"report_column": "generated"}},
            dataset=tiny_dataset(), out=tmp_path / "runs", progress=False)
    with pytest.raises(RunError, match="clash with model names"):
        run("F->T", predictions={"oracle": table}, dataset=tiny_dataset(), out=tmp_path / "runs", progress=False)
    with pytest.raises(PredictionsError, match="two predictions for study 'a'"):
        (tmp_path / "two").mkdir()
        for suffix in (".png", ".jpg"):
            (tmp_path / "two" / f"a{suffix}").write_bytes(b"x")
        PredictionsAdapter(path=str(tmp_path / "two")).index(parse_task("T->F"))
    assert not (tmp_path / "runs").exists()


def test_export_then_predictions_round_trip_through_the_cli(tmp_path):
    """The researcher's path: export a dataset, 'generate' elsewhere (here: copy the real frontals), score, table."""
    ds = tiny_dataset(size=256)
    full = export_inputs(ds, tmp_path / "full", split="all", progress=False)  # the dataset as a manifest, on disk
    cli = CliRunner()
    result = cli.invoke(app, ["data", "export", f"manifest:{full}", "--split", "test", "--task", "T->F",
                              "--out", str(tmp_path / "inputs"), "-q"])
    assert result.exit_code == 0, result.output
    exported = load_dataset(f"manifest:{tmp_path / 'inputs' / 'manifest.csv'}")
    assert exported.study_ids == [s.study_id for s in _test_studies(ds)]
    assert not exported.available(Modality.FRONTAL).any()  # the target is withheld
    first = exported.load(0)
    assert first.report == _test_studies(ds)[0].report
    meta = json.loads((tmp_path / "inputs" / "manifest.json").read_text())
    assert meta["task"] == "T->F" and meta["source_fingerprint"] == load_dataset(f"manifest:{full}").fingerprint()

    generated = tmp_path / "generated"
    generated.mkdir()
    source = load_dataset(f"manifest:{full}")
    for study_id in exported.study_ids:
        save_png(generated / f"{study_id}.png", source.load(source.study_ids.index(study_id)).frontal)
    result = cli.invoke(app, ["run", "--task", "T->F", "--dataset", f"manifest:{full}", "--predictions",
                              f"mine={generated}", "--model", "shuffled", "--metrics", "pixel-mae",
                              "--out", str(tmp_path / "runs"), "--run-id", "r1", "-q"])
    assert result.exit_code == 0, result.output
    assert "mine" in result.output and "shuffled" in result.output
    stored = json.loads((tmp_path / "runs" / "r1" / "results.json").read_text())
    assert stored["models"]["mine"]["metrics"]["pixel-mae/F"]["values"]["pixel_mae"] == 0.0  # same PNG bytes
    result = cli.invoke(app, ["run", "--task", "T->F", "--dataset", f"manifest:{full}", "--predictions",
                              f"mine{generated}", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2 and "NAME=PATH" in result.output


def test_export_refuses_an_existing_export_and_an_empty_selection(tmp_path):
    ds = tiny_dataset()
    export_inputs(ds, tmp_path / "e", progress=False)
    with pytest.raises(FileExistsError, match="already exists"):
        export_inputs(ds, tmp_path / "e", progress=False)
    with pytest.raises(ValueError, match="no split 'val'"):
        export_inputs(ds, tmp_path / "f", split="val", progress=False)


def test_predictions_rows_get_tables_intervals_and_paired_tests(tmp_path):
    from xgem_bench.results import load_run
    from xgem_bench.measurements import compare_models
    from xgem_bench.tables import build_table, render

    ds = tiny_dataset(size=256)
    studies = _test_studies(ds)
    folder = tmp_path / "mine"
    folder.mkdir()
    _write_reports(folder / "reports.csv", [(s.study_id, s.report) for s in studies])
    result = run("F->T", models=["shuffled"], predictions={"mine": folder}, dataset=ds, out=tmp_path / "r",
                 metrics=["bleu"], progress=False)
    loaded = [load_run(result.run_dir)]
    table = build_table("4", loaded, ci={"n_resamples": 50, "level": 0.9, "seed": 0})
    rows = {row.label: row for panel in table.panels for row in panel.rows}
    assert rows["mine"].cells[0].value == pytest.approx(1.0)  # F->T BLEU-1 of the real reports themselves
    assert "mine" in render(table, "md")
    # BLEU-1: the two-word reports have no 4-grams, so only BLEU-1 of identical reports is exactly 1
    test = compare_models(loaded, "F->T", "bleu", "bleu1", "mine", "shuffled", n_resamples=50)
    assert test["value_a"] == pytest.approx(1.0) and test["difference"] > 0
