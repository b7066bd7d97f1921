"""`xgem-bench adapter new NAME`: write a plug-in project whose adapter already passes the conformance check.

The project registers its adapter in the entry-point group `xgem_bench.adapters`, so after `pip install -e DIR`
`xgem-bench models`, `run` and `adapter check` find it without any change to xgem-bench. The example model is a
placeholder (seeded smooth noise for images, a fixed sentence for reports) marked where the real model goes.
"""
from __future__ import annotations

import re
from pathlib import Path

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")

_PYPROJECT = '''\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "xgem-bench-{name}"
version = "0.1.0"
description = "xgem-bench adapter for {name}"
requires-python = ">=3.11"
dependencies = ["xgem-bench"]

# This line is the whole registration: xgem-bench looks adapters up in this entry-point group.
[project.entry-points."xgem_bench.adapters"]
{name} = "{module}.adapter:{cls}"

[tool.setuptools]
packages = ["{module}"]
'''

_ADAPTER = '''\
"""xgem-bench adapter `{name}`. Replace the two marked blocks with your model; keep the input/output contract."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from xgem_bench.adapters.base import Adapter, AdapterContext
from xgem_bench.data.study import IMAGE_SIZE, Study
from xgem_bench.tasks import Modality, Task
from xgem_bench.weights import sha256_of


class {cls}(Adapter):
    name = "{name}"
    version = "1"  # bump whenever outputs change for the same inputs: it invalidates cached generations
    description = "example adapter written by `xgem-bench adapter new`"
    tasks = ("T->F", "F->T")  # every task you list is exercised by `xgem-bench adapter check {name}`
    weights = ()  # names of WeightSpec entries your model needs (see docs/adapters.md)
    packages = ()  # importable modules your model needs, e.g. ("diffusers",)

    @classmethod
    def default_settings(cls) -> dict:
        # Everything that changes outputs belongs here: it is recorded in results and enters the cache key.
        # `checkpoint`: the weights file or folder your model loads (-s {name}.checkpoint=PATH).
        return {{"checkpoint": None, "smoothness": 8, "report": "No acute cardiopulmonary process."}}

    def recorded_settings(self) -> dict:
        # the checkpoint enters the cache key through checkpoint_id(), by content: a path says nothing about
        # the weights in it
        return {{k: v for k, v in self.settings.items() if k != "checkpoint"}}

    def checkpoint_id(self) -> str:
        # Part of the cache key. Retraining rewrites the same path, often with the same size: only a digest of
        # the bytes keeps cached generations of the old weights from being scored as the new model's.
        checkpoint = self.settings["checkpoint"]
        return f"sha256={{sha256_of(Path(checkpoint).expanduser())}}" if checkpoint else "no-checkpoint"

    def unavailable_reason(self) -> str | None:
        checkpoint = self.settings["checkpoint"]
        if checkpoint and not Path(checkpoint).expanduser().exists():
            return f"checkpoint {{checkpoint}} does not exist; pass -s {name}.checkpoint=PATH"
        return super().unavailable_reason()

    def setup(self, context: AdapterContext) -> None:
        # --- load your model here, once (context.device says where), from self.settings["checkpoint"] ---
        self.device = context.device

    def generate(self, studies: Sequence[Study], task: Task, seeds: Sequence[int]) -> list[dict]:
        outputs = []
        for study, seed in zip(studies, seeds):
            rng = np.random.default_rng(seed)  # same seed -> same output, whatever the batch
            result = {{}}
            for modality in task.outputs:
                # --- replace with your model's generation; inputs are study.frontal / study.lateral
                # (float32 (H, W) in [0, 1]) and study.report (str), only those in task.inputs are set ---
                if modality.is_image:
                    result[modality] = self._smooth_noise(rng)
                else:
                    result[modality] = self.settings["report"]
            outputs.append(result)
        return outputs

    def _smooth_noise(self, rng: np.random.Generator) -> np.ndarray:
        block = int(self.settings["smoothness"])
        cells = -(-IMAGE_SIZE // block)  # ceiling division
        coarse = rng.random((cells, cells), dtype=np.float32)
        return coarse.repeat(block, axis=0).repeat(block, axis=1)[:IMAGE_SIZE, :IMAGE_SIZE]
'''

_TEST = '''\
"""Checks that keep `{name}` honest: the conformance check on synthetic studies, and the entry-point registration."""
import numpy as np

from xgem_bench.adapters import get_adapter_class
from xgem_bench.adapters.conformance import check_adapter
from xgem_bench.data import InMemoryDataset, Study

from {module}.adapter import {cls}


def _studies(n=3):
    rng = np.random.default_rng(0)
    return [Study(study_id=f"s{{i}}", frontal=rng.random((256, 256), dtype=np.float32),
                  lateral=rng.random((256, 256), dtype=np.float32), report=f"finding number {{i}}")
            for i in range(n)]


def test_conformance():
    report = check_adapter({cls}(), InMemoryDataset(_studies()))
    assert report.ok, report.render()


def test_registered_through_entry_point():
    # fails until the project is installed: pip install -e .
    assert get_adapter_class("{name}") is {cls}
'''


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[-_]", name)) + "Adapter"


def module_name(name: str) -> str:
    return "xgem_bench_" + name.replace("-", "_")


def write_skeleton(name: str, directory: Path) -> list[Path]:
    """Create `directory/xgem-bench-NAME/` (pyproject, package with the adapter, test); returns the files written."""
    if not NAME_PATTERN.match(name):
        raise ValueError(f"adapter name {name!r} must be lower-case letters and digits, words joined by '-' or '_', "
                         "starting with a letter (e.g. 'my-model')")
    from xgem_bench.adapters import registry

    if name in registry():
        raise ValueError(f"an adapter called {name!r} is already registered; choose another name")
    root = Path(directory) / f"xgem-bench-{name}"
    if root.exists():
        raise FileExistsError(f"{root} already exists; nothing was written")
    fields = {"name": name, "module": module_name(name), "cls": class_name(name)}
    files = {
        root / "pyproject.toml": _PYPROJECT,
        root / fields["module"] / "__init__.py": '"""xgem-bench plug-in adapter `{name}`."""\n',
        root / fields["module"] / "adapter.py": _ADAPTER,
        root / "tests" / f"test_{fields['module']}.py": _TEST,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**fields))
    return list(files)
