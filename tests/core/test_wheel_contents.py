"""The wheel ships every sub-package and the paper's published values: `tables --with-paper` works from a wheel
install (issue 14 §1), read through importlib.resources from the wheel itself, not from the source tree."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-q", "-w", str(out), str(REPO)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    (found,) = out.glob("xgem_bench-*.whl")
    return found


@pytest.mark.slow
def test_the_wheel_holds_every_package_and_the_paper_values(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    # adapters/ and reference_model/ install as xgem_bench.adapters and xgem_bench.reference_model
    inits = {f"{prefix}/{init.relative_to(REPO / folder).as_posix()}"
             for folder, prefix in (("xgem_bench", "xgem_bench"), ("adapters", "xgem_bench/adapters"),
                                    ("reference_model", "xgem_bench/reference_model"))
             for init in (REPO / folder).rglob("__init__.py")}
    missing = sorted(inits - names)
    assert not missing, f"sub-packages left out of the wheel (pyproject.toml `packages`): {missing}"
    assert "xgem_bench/paper_data/xgem_paper_tables.json" in names


@pytest.mark.slow
def test_paper_values_load_from_the_wheel_alone(wheel):
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import xgem_bench.results as r; "
            "assert r.__file__.startswith(sys.argv[1]), r.__file__; print(len(r.load_paper_values()))")
    done = subprocess.run([sys.executable, "-c", code, str(wheel)], capture_output=True, text=True, timeout=120,
                          cwd=wheel.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) > 100
