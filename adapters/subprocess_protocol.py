"""Subprocess adapters: models whose code needs its own Python environment (old torch, CUDA-only kernels, ...).

The user points the adapter at the upstream checkout (`repo`) and at the interpreter of its environment (`python`).
For each batch xgem-bench writes a work folder

    manifest.json             task, settings, and per study: id, seed, report text, frontal ViewPosition (or null),
                              input/output file names
    inputs/<i>/F.npy, L.npy   input images, float32 (H, W) in [0, 1]
    outputs/<i>/F.npy, T.txt  written by the driver: images as float (H, W) or (H, W, 3) in [0, 1], reports UTF-8
    status/<i>.json           written by the driver when study i failed: {"error": "..."}
    scratch/                  the driver's own intermediates (e.g. VQ codes passed from one stage to the next)
    logs/<stage>.log          the driver's stdout and stderr

and hands it to `PYTHON drivers/<model>_driver.py --serve STAGE`, one process per stage kept alive across batches
with the checkout as working directory (a model may need two environments, e.g. an LLM and a separate VQ-GAN), so
the models load once per run, not once per batch; `keep_driver=false` runs `driver.py STAGE WORK/manifest.json`
once per batch instead. A driver that crashes, exits or times out is started afresh for the next batch. Drivers ship
with xgem-bench in
`adapters/drivers/` and use only the standard library and numpy on their side of the protocol
(`drivers/_driver_protocol.py`), so they run under old Pythons (3.7+).

Failures are reported per study (`StudyFailure`): the driver's own error for that study, else the time-out or exit
code of the stage that should have produced it (with the tail of its log), else "no output written".
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from xgem_bench.adapters.base import Adapter, AdapterContext, StudyFailure
from xgem_bench.adapters.convert import to_canonical_image
from xgem_bench.data.study import Study
from xgem_bench.settings import deprecated
from xgem_bench.tasks import Modality, Task

PROTOCOL_VERSION = 1
log = logging.getLogger(__name__)
DRIVERS_DIR = Path(__file__).parent / "drivers"


@dataclass(frozen=True)
class Stage:
    name: str
    #: setting naming the interpreter this stage runs under
    python_setting: str = "python"


class SubprocessAdapter(Adapter):
    """Base class: subclasses name their driver file and stages and pass model settings to the driver."""

    driver: ClassVar[str]
    #: files that must exist in the upstream checkout for it to count as one
    repo_markers: ClassVar[tuple[str, ...]] = ()
    #: settings that say where and how long to run, not what comes out: they stay out of the recorded settings and the
    #: cache key
    runtime_settings: ClassVar[tuple[str, ...]] = ("repo", "python", "timeout_s", "keep_workdir", "device",
                                                  "keep_driver")

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        # device None: the run's device (--device); timeout_s: per stage and batch; keep_workdir: for debugging;
        # keep_driver: one driver process per stage for the whole run (models loaded once)
        return {"repo": None, "python": None, "timeout_s": 3600.0, "device": None, "keep_workdir": False,
                "keep_driver": True}

    def __init__(self, **settings: Any):
        super().__init__(**settings)
        self._drivers: dict[str, _Driver] = {}
        self._finalizer = weakref.finalize(self, _stop_drivers, self._drivers)

    def close(self) -> None:
        """Stop the driver processes kept alive across batches."""
        _stop_drivers(self._drivers)

    def stages(self, task: Task) -> list[Stage]:
        return [Stage("generate")]

    def driver_settings(self, task: Task) -> dict[str, Any]:
        """Model settings for the driver (weight paths, sampler settings): the manifest's `settings`."""
        return {}

    def _manifest_settings(self, task: Task) -> dict[str, Any]:
        if hasattr(self, "driver_options"):  # an adapter written before the rename to driver_settings
            deprecated(f"{type(self).__name__}.driver_options()", "driver_settings()")
            return self.driver_options(task)
        return self.driver_settings(task)

    def input_image(self, study: Study, modality: Modality) -> np.ndarray:
        """The image the driver receives for one input view; subclasses may apply the model's own preprocessing
        (raising StudyFailure for that study alone when they cannot)."""
        return study.get(modality)

    def stage_environment(self, stage: Stage) -> dict[str, str]:
        """Extra environment variables for one stage's process (e.g. which GPUs it sees)."""
        return {}

    def driver_path(self) -> Path:
        return DRIVERS_DIR / self.driver

    def unavailable_reason(self) -> str | None:
        reason = super().unavailable_reason()
        if reason:
            return reason
        repo = self.settings["repo"]
        if not repo:
            return (f"setting 'repo' is not set: point it at a checkout of the upstream code "
                    f"(xgem-bench run ... -s {self.name}.repo=PATH)")
        missing = [m for m in self.repo_markers if not (Path(repo).expanduser() / m).exists()]
        if not Path(repo).expanduser().is_dir() or missing:
            return f"{repo} is not a checkout of the upstream code (missing {missing or 'the folder'})"
        for setting in sorted({s.python_setting for s in self.stages_for_all_tasks()}):
            python = self.settings[setting]
            if not python:
                return (f"setting {setting!r} is not set: point it at the Python interpreter of the model's own "
                        f"environment (-s {self.name}.{setting}=/path/to/env/bin/python)")
            if shutil.which(str(Path(python).expanduser())) is None:
                return f"setting {setting!r}: {python} is not an executable Python interpreter"
        return None

    def stages_for_all_tasks(self) -> list[Stage]:
        return [stage for task in self.supported_tasks() for stage in self.stages(task)]

    def recorded_settings(self) -> dict[str, Any]:
        settings = {k: v for k, v in self.settings.items() if k not in self.runtime_settings}
        settings["driver"] = self.driver
        settings["upstream_commit"] = git_commit(self.settings["repo"])
        return settings

    def setup(self, context: AdapterContext) -> None:
        self._device = self.settings["device"] or context.device

    def generate(self, studies: Sequence[Study], task: Task, seeds: Sequence[int]) -> list[dict | StudyFailure]:
        results: list[dict | StudyFailure | None] = [None] * len(studies)
        ready, images = [], []
        for index, study in enumerate(studies):
            try:
                images.append({m: self.input_image(study, m) for m in task.inputs if m.is_image})
                ready.append(index)
            except StudyFailure as failure:
                results[index] = failure
        if not ready:
            return results
        work = Path(tempfile.mkdtemp(prefix=f"xgem-bench-{self.name}-"))
        try:
            manifest = write_batch(work, self.name, [studies[i] for i in ready], images, task,
                                   [seeds[i] for i in ready], self._manifest_settings(task),
                                   repo=str(self._repo()), device=getattr(self, "_device", None) or "cpu")
            stage_errors = [error for stage in self.stages(task)
                            if (error := self._run_stage(stage, work))]
            for index, output in zip(ready, read_outputs(work, manifest, task, "; ".join(stage_errors) or None)):
                results[index] = output
            return results
        finally:
            if self.settings["keep_workdir"]:
                log.warning("%s: kept the work folder of this batch at %s", self.name, work)
            else:
                shutil.rmtree(work, ignore_errors=True)

    def _repo(self) -> Path:
        if not self.settings["repo"]:
            raise ValueError(f"adapter {self.name!r}: setting 'repo' (the upstream checkout) is not set")
        return Path(self.settings["repo"]).expanduser().resolve()

    def pythonpath(self) -> list[Path]:
        """Import roots of the upstream code for the driver (the checkout; subclasses may add more)."""
        return [self._repo()]

    def _stage_process(self, command: list[str], stage: Stage, log, stdin=None) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in self.pythonpath()),
               "PYTHONUNBUFFERED": "1", **self.stage_environment(stage)}
        # own session, so a time-out ends the driver and anything it started
        return subprocess.Popen(command, cwd=self._repo(), stdin=stdin, stdout=log, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)

    def _run_stage(self, stage: Stage, work: Path) -> str | None:
        """Run one driver stage on a batch; None when it succeeded, else why not (time-out, exit code, log tail)."""
        if self.settings["keep_driver"]:
            return self._run_on_driver(stage, work)
        python = str(Path(self.settings[stage.python_setting]).expanduser())
        command = [python, str(self.driver_path()), stage.name, str(work / "manifest.json")]
        log_path = work / "logs" / f"{stage.name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        timeout = float(self.settings["timeout_s"])
        start = time.monotonic()
        with open(log_path, "wb") as log:
            process = self._stage_process(command, stage, log)
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return f"stage {stage.name!r} timed out after {timeout:g} s{_log_tail(log_path)}"
        if code != 0:
            return (f"stage {stage.name!r} exited with code {code} after {time.monotonic() - start:.1f} s"
                    f"{_log_tail(log_path)}")
        return None


    def _run_on_driver(self, stage: Stage, work: Path) -> str | None:
        """Hand the batch to the stage's serving driver (started if needed) and wait for its .done file."""
        driver = self._drivers.get(stage.name)
        if driver is None or driver.process.poll() is not None:
            python = str(Path(self.settings[stage.python_setting]).expanduser())
            folder = Path(tempfile.mkdtemp(prefix=f"xgem-bench-{self.name}-{stage.name}-"))
            log = open(folder / "driver.log", "wb")
            process = self._stage_process([python, str(self.driver_path()), "--serve", stage.name], stage, log,
                                          stdin=subprocess.PIPE)
            driver = self._drivers[stage.name] = _Driver(process, log, folder)
        offset = driver.log_path.stat().st_size
        done = work / "status" / f"{stage.name}.done"
        timeout = float(self.settings["timeout_s"])
        start = time.monotonic()
        try:
            driver.process.stdin.write(f"{work / 'manifest.json'}\n".encode())
            driver.process.stdin.flush()
        except BrokenPipeError:
            pass  # it died on its own; the exit code is read below
        while not done.exists():
            code = driver.process.poll()
            if code is not None or time.monotonic() - start > timeout:
                if code is None:
                    driver.kill()
                tail = _log_tail(driver.log_path, offset=offset)
                self._drivers.pop(stage.name).stop()
                if code is None:
                    return f"stage {stage.name!r} timed out after {timeout:g} s{tail}"
                return f"stage {stage.name!r} exited with code {code} after {time.monotonic() - start:.1f} s{tail}"
            time.sleep(0.02)
        error = json.loads(done.read_text())["error"]
        return f"stage {stage.name!r} failed: {error}{_log_tail(driver.log_path, offset=offset)}" if error else None


@dataclass
class _Driver:
    """A driver process serving one stage, and the log its output goes to."""

    process: subprocess.Popen
    log: Any
    folder: Path

    @property
    def log_path(self) -> Path:
        return self.folder / "driver.log"

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()  # end of input: the driver's loop ends
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _stop_drivers(drivers: dict[str, _Driver]) -> None:
    while drivers:
        drivers.popitem()[1].stop()


def git_commit(repo: str | None) -> str | None:
    """The checked-out commit of a git checkout, read from .git without running git (cheap, no git needed)."""
    if not repo:
        return None
    git = Path(repo).expanduser() / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            if (git / ref).exists():
                return (git / ref).read_text().strip()
            packed = (git / "packed-refs").read_text().splitlines()
            return next(line.split()[0] for line in packed if line.endswith(" " + ref))
        return head
    except (OSError, StopIteration):
        return None


def _log_tail(log_path: Path, lines: int = 8, offset: int = 0) -> str:
    with open(log_path, "rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace").strip().splitlines()
    return (": ..." + " | ".join(text[-lines:])) if text else ""


def write_batch(work: Path, model: str, studies: Sequence[Study], images: Sequence[dict[Modality, np.ndarray]],
                task: Task, seeds: Sequence[int], settings: dict[str, Any], repo: str, device: str) -> dict[str, Any]:
    """Write the inputs (one dict of input images per study) and manifest.json of one batch; returns the manifest."""
    entries = []
    for index, (study, study_images, seed) in enumerate(zip(studies, images, seeds)):
        files = {}
        for modality, pixels in study_images.items():
            path = Path("inputs") / str(index) / f"{modality.value}.npy"
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            np.save(work / path, np.asarray(pixels, dtype=np.float32))
            files[modality.value] = str(path)
        entries.append({
            "index": index, "study_id": study.study_id, "seed": int(seed),
            "report": study.report if Modality.REPORT in task.inputs else None,
            "frontal_view": study.frontal_view or None,
            "images": files,
            "outputs": {m.value: str(Path("outputs") / str(index) / (f"{m.value}.npy" if m.is_image else
                                                                      f"{m.value}.txt")) for m in task.outputs},
        })
    for folder in ("outputs", "status", "scratch"):
        (work / folder).mkdir(exist_ok=True)
    manifest = {"protocol": PROTOCOL_VERSION, "model": model, "task": task.name,
                "inputs": [m.value for m in task.inputs], "outputs": [m.value for m in task.outputs],
                "repo": repo, "device": device, "settings": settings,
                "options": settings,  # the old name, for copies of _driver_protocol.py from before the rename
                "studies": entries}
    (work / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def read_outputs(work: Path, manifest: dict[str, Any], task: Task, stage_error: str | None
                 ) -> list[dict | StudyFailure]:
    """One output dict per study, or a StudyFailure saying why that study has none."""
    results: list[dict | StudyFailure] = []
    for entry in manifest["studies"]:
        status = work / "status" / f"{entry['index']}.json"
        if status.exists():
            results.append(StudyFailure(f"driver: {json.loads(status.read_text()).get('error', 'failed')}"))
            continue
        try:
            results.append({m: _read_output(work / entry["outputs"][m.value], m) for m in task.outputs})
        except FileNotFoundError as missing:
            results.append(StudyFailure(stage_error or f"the driver wrote no output {missing.args[0]}"))
        except ValueError as error:
            results.append(StudyFailure(f"unreadable driver output: {error}"))
    return results


def _read_output(path: Path, modality: Modality):
    if not path.exists():
        raise FileNotFoundError(f"{modality.value} (expected {path.name} in {path.parent.name}/)")
    if not modality.is_image:
        return path.read_text(encoding="utf-8").strip()
    return to_canonical_image(np.load(path, allow_pickle=False), f"driver output {path.name}")
