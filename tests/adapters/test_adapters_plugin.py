"""The plug-in story end to end: `adapter new` writes a project whose adapter passes the check; the guide's worked
example (taken from docs/adapters.md itself) registered through the entry-point group, checked by the CLI, and its
generated tests run by pytest, in a child process that sees the plug-in as installed."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from plugin_dist import install_entry_points
from xgem_bench.adapters import get_adapter_class
from xgem_bench.adapters.conformance import check_adapter
from xgem_bench.adapters.skeleton import write_skeleton
from xgem_bench.cli import app

GUIDE = Path(__file__).parents[2] / "docs" / "adapters.md"


def _install(project: Path, name: str, target: str) -> Path:
    """The adapter's entry point, installed beside the project (tests/plugin_dist.py)."""
    return install_entry_points(project.parent / "site", f"xgem-bench-{name}", {"xgem_bench.adapters": {name: target}})


def _child_env(*paths: Path) -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in paths)}


def test_skeleton_adapter_passes_the_check(tmp_path, dataset, monkeypatch):
    files = write_skeleton("my-model", tmp_path)
    root = tmp_path / "xgem-bench-my-model"
    assert {f.relative_to(root).as_posix() for f in files} == {
        "pyproject.toml", "xgem_bench_my_model/__init__.py", "xgem_bench_my_model/adapter.py",
        "tests/test_xgem_bench_my_model.py"}
    assert 'my-model = "xgem_bench_my_model.adapter:MyModelAdapter"' in (root / "pyproject.toml").read_text()
    monkeypatch.syspath_prepend(str(root))
    from xgem_bench_my_model.adapter import MyModelAdapter
    report = check_adapter(MyModelAdapter(), dataset)
    assert report.ok, report.render()


def test_skeleton_refuses_bad_or_taken_names(tmp_path):
    with pytest.raises(ValueError, match="lower-case"):
        write_skeleton("My Model", tmp_path)
    with pytest.raises(ValueError, match="already registered"):
        write_skeleton("roentgen", tmp_path)
    write_skeleton("twice", tmp_path)
    with pytest.raises(FileExistsError):
        write_skeleton("twice", tmp_path)


def test_guide_worked_example_end_to_end(tmp_path):
    result = CliRunner().invoke(app, ["adapter", "new", "blur-view", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "xgem-bench-blur-view"
    guide = GUIDE.read_text()
    example = re.search(r"Replace `xgem_bench_blur_view/adapter.py` with:\n\n```python\n(.*?)```", guide, re.S)
    (root / "xgem_bench_blur_view" / "adapter.py").write_text(example.group(1))
    site = _install(root, "blur-view", "xgem_bench_blur_view.adapter:BlurViewAdapter")
    env = _child_env(root, site)
    check = subprocess.run([sys.executable, "-m", "xgem_bench.cli", "adapter", "check", "blur-view", "-s", "sigma=2"],
                           env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "conformance of adapter 'blur-view': PASS" in check.stdout and "[F->L] deterministic" in check.stdout
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
                           env=env, capture_output=True, text=True, timeout=300, cwd=root)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout


def test_check_command_exit_codes(tmp_path, monkeypatch):
    runner = CliRunner()
    unknown = runner.invoke(app, ["adapter", "check", "no-such-model"])
    assert unknown.exit_code == 2 and "unknown model" in unknown.output
    bad_setting = runner.invoke(app, ["adapter", "check", "oracle", "-s", "colour=blue"])
    assert bad_setting.exit_code == 2 and "has no setting" in bad_setting.output
    unavailable = runner.invoke(app, ["adapter", "check", "roentgen"])
    assert unavailable.exit_code == 1 and "FAIL available" in unavailable.output
    assert "xgem-bench weights import roentgen PATH" in unavailable.output


def test_entry_point_registration_is_seen_by_the_registry(tmp_path, monkeypatch):
    write_skeleton("entry-demo", tmp_path)
    root = tmp_path / "xgem-bench-entry-demo"
    site = _install(root, "entry-demo", "xgem_bench_entry_demo.adapter:EntryDemoAdapter")
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.syspath_prepend(str(site))
    cls = get_adapter_class("entry-demo")
    assert cls.__name__ == "EntryDemoAdapter" and cls.name == "entry-demo"


def test_a_plugin_declares_its_weights_through_the_entry_point(tmp_path, monkeypatch):
    """`[project.entry-points."xgem_bench.weights"]` adds a plug-in's files to the catalog: listed, named in the
    missing-weight message with the fixing command, importable, checksummed; a clash with a built-in name fails."""
    from xgem_bench import weights

    site = tmp_path / "site"
    (site / "blur_weights.py").parent.mkdir(parents=True)
    (site / "blur_weights.py").write_text(
        "from xgem_bench.weights import WeightSpec\n"
        "WEIGHTS = [WeightSpec(name='blur-kernel', description='a blur kernel', used_by='adapter blur-view',\n"
        "                      source=None, licence='CC0', filename='blur-kernel.npy',\n"
        "                      manual='ask the authors')]\n"
        "CLASH = [WeightSpec(name='roentgen', description='x', used_by='x', source=None, licence='x', filename='x')]\n")
    dist = site / "xgem_bench_blur_view-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: xgem-bench-blur-view\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[xgem_bench.weights]\nblur-view = blur_weights\n")
    monkeypatch.syspath_prepend(str(site))
    weights.catalog.cache_clear()

    assert weights.get("blur-kernel").licence == "CC0" and "roentgen" in weights.catalog()
    assert "xgem-bench weights import blur-kernel PATH" in weights.missing_reason("blur-kernel")
    (tmp_path / "kernel.npy").write_bytes(b"\x93NUMPY")
    weights.import_file("blur-kernel", tmp_path / "kernel.npy")
    assert weights.missing_reason("blur-kernel") is None and weights.checksum("blur-kernel")
    listed = CliRunner().invoke(app, ["weights", "list"])
    assert "blur-kernel" in listed.output

    (dist / "entry_points.txt").write_text("[xgem_bench.weights]\nblur-view = blur_weights:CLASH\n")
    weights.catalog.cache_clear()
    with pytest.raises(RuntimeError, match="'roentgen' of plug-in blur-view"):
        weights.catalog()
    weights.catalog.cache_clear()
