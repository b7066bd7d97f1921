"""The CLI end to end on a manifest dataset written to disk (real readers, real runner)."""
import json

import numpy as np
import pandas as pd
import pytest
from core_fixtures import tiny_dataset
from typer.testing import CliRunner

from xgem_bench.cli import app
from xgem_bench.data.images import save_png16

cli = CliRunner()


@pytest.fixture
def manifest(tmp_path):
    ds = tiny_dataset(16, size=256)
    rows = []
    for i in range(len(ds)):
        s = ds.load(i)
        for view in ("frontal", "lateral"):
            save_png16(tmp_path / f"{s.study_id}_{view}.png", getattr(s, view))
        rows.append({"study_id": s.study_id, "subject_id": s.subject_id, "frontal": f"{s.study_id}_frontal.png",
                     "lateral": f"{s.study_id}_lateral.png", "report": s.report, "split": s.split})
    path = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_run_prints_a_table_and_writes_results(manifest, tmp_path):
    out = tmp_path / "results"
    done = cli.invoke(app, ["run", "--task", "l + t -> f", "--dataset", str(manifest), "--out", str(out), "-q",
                            "--run-id", "r1", "--model", "oracle", "--model", "shuffled", "--metrics", "pixel-mae"])
    assert done.exit_code == 0, done.output
    assert "oracle" in done.output and "pixel-mae/F" in done.output and "Results written to" in done.output
    results = json.loads((out / "r1" / "results.json").read_text())
    assert results["task"] == "L+T->F" and results["models"]["oracle"]["metrics"]["pixel-mae/F"]["values"][
        "pixel_mae"] < 1e-4  # 16-bit PNG round trip
    shown = cli.invoke(app, ["results", "show", str(out / "r1")])
    assert shown.exit_code == 0 and "shuffled" in shown.output
    listed = cli.invoke(app, ["results", "list", "--root", str(out)])
    assert "r1" in listed.output


def test_model_and_metric_settings_reach_their_targets(manifest, tmp_path):
    done = cli.invoke(app, ["run", "--task", "T->F", "--dataset", f"manifest:{manifest}", "--out", str(tmp_path),
                            "-q", "--run-id", "opt", "--model", "retrieval", "-s", "retrieval.max_train=3",
                            "--metrics", "pixel-mae"])
    assert done.exit_code == 0, done.output
    results = json.loads((tmp_path / "opt" / "results.json").read_text())
    assert results["models"]["retrieval"]["settings"] == {"max_train": 3}


def test_old_option_spelling_still_works_with_one_deprecation_note(manifest, tmp_path, capsys):
    from xgem_bench import settings
    settings._noted.clear()
    done = cli.invoke(app, ["run", "--task", "T->F", "--dataset", f"manifest:{manifest}", "--out", str(tmp_path),
                            "-q", "--run-id", "old", "--model", "retrieval", "-o", "retrieval.max_train=3",
                            "--option", "retrieval.max_train=2", "--metrics", "pixel-mae"])
    assert done.exit_code == 0, done.output
    results = json.loads((tmp_path / "old" / "results.json").read_text())
    assert results["models"]["retrieval"]["settings"] == {"max_train": 2}  # the last pair wins, as before
    assert done.output.count("--option/-o is deprecated; use --setting/-s") == 1


@pytest.mark.parametrize("args,message", [
    (["--task", "F->F"], "on both sides"),
    (["--task", "T->F", "--model", "orcale"], "Did you mean oracle"),
    (["--task", "T->F", "--metrics", "token-f1"], "scores no output"),
    (["--task", "T->F", "--dataset", "nosuch"], "unknown dataset 'nosuch'"),
    (["--task", "T->F", "-o", "oracle"], "must look like NAME.KEY=VALUE"),
])
def test_bad_arguments_exit_2_with_one_clear_line(args, message, manifest, tmp_path):
    done = cli.invoke(app, ["run", "--out", str(tmp_path), "-q", *args])
    assert done.exit_code == 2
    assert message in done.output


def test_unreadable_image_is_named_left_out_and_exits_nonzero(manifest, tmp_path):
    table = pd.read_csv(manifest)
    bad = table.loc[table.split == "test"].index[-1]
    (manifest.parent / table.loc[bad, "frontal"]).write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "o"
    done = cli.invoke(app, ["run", "--task", "F->T", "--dataset", str(manifest), "--out", str(out), "-q",
                            "--model", "oracle", "--metrics", "token-f1", "--run-id", "u", "--batch-size", "2"])
    assert done.exit_code == 1
    assert "1 studies have unreadable inputs" in done.output and table.loc[bad, "study_id"] in done.output
    generation = pd.read_csv(out / "u" / "generation.csv", dtype={"study_id": str})
    row = generation.set_index("study_id").loc[table.loc[bad, "study_id"]]
    assert row.status == "unreadable" and table.loc[bad, "frontal"] in row.error
    results = json.loads((out / "u" / "results.json").read_text())
    assert results["models"]["oracle"]["metrics"]["token-f1/T"]["values"]["n"] == 8 - 1


def test_listing_commands():
    assert "L+T->F" in cli.invoke(app, ["tasks"]).output
    models = cli.invoke(app, ["models", "--task", "T->F"])
    assert models.exit_code == 0 and "oracle" in models.output
    metrics = cli.invoke(app, ["metrics"])
    assert metrics.exit_code == 0 and "pixel-mae" in metrics.output and "token-f1" in metrics.output
