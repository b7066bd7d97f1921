"""Issue 13 §4: hostile inputs are recorded or refused with a clear message; finished work is never lost."""
import os
import struct
import zlib

import numpy as np
import pandas as pd
import pytest
from core_fixtures import CountingAdapter, tiny_dataset
from PIL import Image
from typer.testing import CliRunner

from xgem_bench.adapters import BUILTIN_ADAPTERS
from xgem_bench.atomic import TEMP_MARK, atomic_write_bytes
from xgem_bench.cache import GenerationCache
from xgem_bench.cli import app
from xgem_bench.data.manifest import ManifestError, read_manifest
from xgem_bench.report_scores import ReportFileError, read_reports_csv
from xgem_bench.results import list_runs, load_run
from xgem_bench.runner import RunError, run

cli = CliRunner()


@pytest.fixture
def counting(monkeypatch):
    monkeypatch.setitem(BUILTIN_ADAPTERS, "counting", "core_fixtures:CountingAdapter")
    CountingAdapter.calls = []


def png_header_only(path, width, height):
    """A PNG whose header claims width x height (what PIL's decompression-bomb check reads), written by hand."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + chunk(b"IEND", b""))
    return path


def write_manifest(folder, n=6, split="test", **overrides):
    rows = []
    for i in range(n):
        sid = overrides.get("ids", {}).get(i, f"s{i}")
        for view in ("frontal", "lateral"):
            Image.fromarray(np.full((32, 32), 20 * i + (view == "lateral") * 7, np.uint8)).save(
                folder / f"{i}_{view}.png")
        rows.append({"study_id": sid, "frontal": f"{i}_frontal.png", "lateral": f"{i}_lateral.png",
                     "report": f"report {i}", "split": split})
    path = folder / "m.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_decompression_bomb_is_an_unreadable_study_not_a_crash(tmp_path):
    manifest = write_manifest(tmp_path)
    png_header_only(tmp_path / "1_frontal.png", 20000, 20000)
    result = run("L->F", models=["oracle"], dataset=str(manifest), metrics=["pixel-mae"], out=tmp_path / "r",
                 progress=False)
    rows = pd.read_csv(result.run_dir / "generation.csv", dtype=str)
    bad = rows[rows.study_id == "s1"].iloc[0]
    assert bad.status == "unreadable" and "too large to decode safely" in bad.error
    assert result.results["models"]["oracle"]["metrics"]["pixel-mae/F"]["values"]["n"] == 5


def test_unused_unreadable_modality_does_not_drop_the_study(tmp_path):
    manifest = write_manifest(tmp_path)
    (tmp_path / "2_lateral.png").write_bytes(b"not a png")
    result = run("T->F", models=["oracle"], dataset=str(manifest), metrics=["pixel-mae"], out=tmp_path / "r",
                 progress=False)
    assert result.results["dataset"]["n_unreadable"] == 0
    assert result.results["models"]["oracle"]["metrics"]["pixel-mae/F"]["values"]["n"] == 6
    with pytest.raises(ValueError, match="2_lateral.png"):  # still read when the task needs it
        read_manifest(manifest).load(2)


def test_very_long_study_id_gets_a_bounded_cache_name(tmp_path, counting):
    long_id = "x" * 300
    manifest = write_manifest(tmp_path, n=2, ids={0: long_id, 1: long_id[:-1] + "y"})
    result = run("T->F", models=["counting"], dataset=str(manifest), metrics=["pixel-mae"], out=tmp_path / "r",
                 cache_dir=tmp_path / "cache", progress=False)
    assert result.results["models"]["counting"]["n_generated"] == 2
    names = [p.name for p in (tmp_path / "cache").rglob("*.npz")]
    assert len(names) == 2 and max(map(len, names)) < 140  # distinct, and far below the 255-byte limit


def test_one_adapter_setup_failure_keeps_the_other_models_results(tmp_path):
    manifest = write_manifest(tmp_path)  # every study in `test`: shuffled has no training split to draw from
    result = run("T->F", models=["shuffled", "oracle"], dataset=str(manifest), metrics=["pixel-mae"],
                 out=tmp_path / "r", progress=False)
    shuffled, oracle = result.results["models"]["shuffled"], result.results["models"]["oracle"]
    assert shuffled["status"] == "failed" and "setup failed" in shuffled["reason"] and "train" in shuffled["reason"]
    assert shuffled["metrics"]["pixel-mae/F"]["status"] == "skipped"
    assert oracle["status"] == "ok" and oracle["metrics"]["pixel-mae/F"]["values"]["pixel_mae"] == 0.0
    assert load_run(result.run_dir)["models"]["shuffled"]["status"] == "failed"
    shown = cli.invoke(app, ["results", "show", str(result.run_dir)])
    assert "shuffled" in shown.output and "failed" in shown.output


@pytest.mark.parametrize("tamper", [
    lambda: {"F": np.full((64, 64), np.nan, np.float32)},
    lambda: {"F": np.full((10, 10), 7.0, np.float32)},
    lambda: {"F": np.zeros((2, 2, 2), np.float32)},
    lambda: {"L": np.zeros((64, 64), np.float32)},  # the wrong modality
])
def test_tampered_cache_entries_are_regenerated(tmp_path, counting, tamper):
    ds = tiny_dataset(6)
    first = run("T->F", models=["counting"], dataset=ds, split="all", metrics=["pixel-mae"], out=tmp_path / "r",
                cache_dir=tmp_path / "cache", progress=False)
    before = first.results["models"]["counting"]["metrics"]["pixel-mae/F"]["values"]["pixel_mae"]
    cache = GenerationCache.existing(first.results["models"]["counting"]["cache_folder"])
    target = next(cache.folder.glob("s002-*.npz"))
    np.savez(target, **tamper())
    CountingAdapter.calls = []
    again = run("T->F", models=["counting"], dataset=ds, split="all", metrics=["pixel-mae"], out=tmp_path / "r",
                cache_dir=tmp_path / "cache", progress=False)
    assert CountingAdapter.calls == ["s002"]  # only the tampered entry, and it was not scored as it stood
    assert again.results["models"]["counting"]["metrics"]["pixel-mae/F"]["values"]["pixel_mae"] == before


def test_unfinished_run_folder_resumes_and_stale_temporaries_go(tmp_path, counting):
    ds = tiny_dataset(6)
    run_dir = tmp_path / "r" / "same"
    run_dir.mkdir(parents=True)
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)  # a pid that surely belongs to no live process now
    host = os.uname().nodename
    leftover = run_dir / f".results.json{TEMP_MARK}{host}-{dead}-abc123"
    leftover.write_text("{")
    live = run_dir / f".per_sample.csv{TEMP_MARK}{host}-{os.getpid()}-abc123"  # a writer that is still alive
    live.write_text("x")
    result = run("T->F", models=["counting"], dataset=ds, split="all", metrics=["pixel-mae"], out=tmp_path / "r",
                 run_id="same", cache_dir=tmp_path / "cache", progress=False)
    assert (run_dir / "results.json").is_file() and not leftover.exists() and live.exists()
    assert result.results["models"]["counting"]["n_generated"] == 6
    with pytest.raises(RunError, match="holds a finished run"):
        run("T->F", models=["counting"], dataset=ds, split="all", out=tmp_path / "r", run_id="same",
            cache_dir=tmp_path / "cache", progress=False)


def test_atomic_writes_leave_no_temporary_on_success(tmp_path):
    atomic_write_bytes(tmp_path / "a.npz", b"data")
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]


def test_malformed_results_json_is_named_and_skipped(tmp_path):
    good = run("T->F", models=["oracle"], dataset=tiny_dataset(4), split="all", metrics=["pixel-mae"],
               out=tmp_path, run_id="good", progress=False)
    for name, text in (("cut", good.run_dir.joinpath("results.json").read_text()[:200]), ("list", "[1, 2]")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(text)
    skipped = []
    assert [r["run_id"] for r in list_runs(tmp_path, skipped)] == ["good"]
    assert len(skipped) == 2 and any("cut/results.json is not valid JSON" in s for s in skipped)
    listed = cli.invoke(app, ["results", "list", "--root", str(tmp_path)])
    assert listed.exit_code == 0 and "good" in listed.output and "cut/results.json" in listed.output
    tables = cli.invoke(app, ["tables", str(tmp_path / "cut"), "--table", "2"])
    assert tables.exit_code == 2 and "cut/results.json is not valid JSON" in tables.output


@pytest.mark.parametrize("kwargs, message", [
    ({"models": ["oracle"], "model_settings": {"oracle": {"stepz": 3}}}, "adapter 'oracle' has no setting"),
    ({"models": ["retrieval"], "model_settings": {"retrieval": {"max_trian": 3}}}, "its settings are .*max_train"),
    ({"models": ["oracle"], "metric_settings": {"pixel-mae": {"x": 1}}}, "metric 'pixel-mae' has no setting"),
    ({"models": ["oracle"], "metrics": ["pixel-mae"], "metric_settings": {"bleu": {"max_n": 2}}}, "not in the run"),
])
def test_unknown_settings_fail_before_any_run_folder_exists(tmp_path, kwargs, message):
    with pytest.raises(RunError, match=message):
        run("T->F", dataset=tiny_dataset(4), split="all", out=tmp_path / "r", progress=False, **kwargs)
    assert not (tmp_path / "r").exists()


def manifest_text(tmp_path, text, encoding="utf-8"):
    path = tmp_path / "m.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_nul_bytes_in_ids_are_refused(tmp_path):
    with pytest.raises(ManifestError, match="line 3 contains a NUL byte"):
        read_manifest(manifest_text(tmp_path, "study_id,frontal,lateral,report\na,,,r\nb\0c,,,r\n"))
    with pytest.raises(ManifestError, match=r"row\(s\) \[2\] contains control characters"):
        read_manifest(manifest_text(tmp_path, 'study_id,frontal,lateral,report\n"a\nb",,,r\n'))
    reports = tmp_path / "h.csv"
    reports.write_bytes(b"study_id,report\nok,fine\nx\0y,text\n")
    with pytest.raises(ReportFileError, match="row 3 has control characters"):
        read_reports_csv(reports)


@pytest.mark.parametrize("blank", ["", "nan", "NaN", "NA", "n/a", "null"])
def test_missing_label_spellings_are_all_blank(tmp_path, blank):
    ds = read_manifest(manifest_text(tmp_path, f"study_id,frontal,lateral,report,Edema\na,,,r,{blank}\nb,,,r,1\n"))
    assert ds.labels(0) == {} and ds.labels(1) == {"Edema": 1.0}


def test_bad_label_values_still_fail(tmp_path):
    with pytest.raises(ManifestError, match="allowed are 1, 0, -1"):
        read_manifest(manifest_text(tmp_path, "study_id,frontal,lateral,report,Edema\na,,,r,yes\n"))


def test_header_only_files_are_errors(tmp_path):
    with pytest.raises(ManifestError, match="header but no studies"):
        read_manifest(manifest_text(tmp_path, "study_id,frontal,lateral,report\n"))
    reports = tmp_path / "h.csv"
    reports.write_text("study_id,report\n")
    with pytest.raises(ReportFileError, match="header but no reports"):
        read_reports_csv(reports)


def test_latin1_manifest_error_names_the_fix(tmp_path):
    path = manifest_text(tmp_path, "study_id,frontal,lateral,report\na,,,épanchement pleural\n", "latin-1")
    with pytest.raises(ManifestError, match=r"not UTF-8 text .*`iconv -f latin1 -t utf-8 "):
        read_manifest(path)
