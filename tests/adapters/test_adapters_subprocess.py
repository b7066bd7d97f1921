"""The subprocess protocol end to end, with a stand-in upstream driver run by a real child interpreter."""
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from xgem_bench.adapters.base import StudyFailure
from xgem_bench.adapters.conformance import check_adapter
from xgem_bench.adapters.subprocess_protocol import DRIVERS_DIR, Stage, SubprocessAdapter
from xgem_bench.tasks import Modality, parse_task

HERE = Path(__file__).parent


class FakeUpstreamAdapter(SubprocessAdapter):
    name = "fake-upstream"
    tasks = ("T->F", "F->T", "F+L->T")
    driver = "fake_upstream_driver.py"
    repo_markers = ("model.ckpt",)

    @classmethod
    def default_settings(cls):
        return {**super().default_settings(), "behaviour": {}, "vq_python": None}

    def stages(self, task):
        return [Stage("encode", "vq_python"), Stage("decode")]

    def driver_settings(self, task):
        return dict(self.settings["behaviour"])

    drivers_dir = DRIVERS_DIR

    def driver_path(self):
        return self.drivers_dir / self.driver


@pytest.fixture
def make_adapter(tmp_path):
    drivers = tmp_path / "drivers"  # the driver sits next to the shipped protocol helper, as real drivers do
    drivers.mkdir()
    shutil.copy(DRIVERS_DIR / "_driver_protocol.py", drivers)
    shutil.copy(HERE / "fake_upstream_driver.py", drivers)
    repo = tmp_path / "upstream"
    repo.mkdir()
    (repo / "model.ckpt").write_bytes(b"weights")

    def make(**behaviour):
        timeout = behaviour.pop("timeout_s", 60)
        adapter = FakeUpstreamAdapter(repo=str(repo), python=sys.executable, vq_python=sys.executable,
                                      timeout_s=timeout, device="cpu", behaviour=behaviour)
        adapter.drivers_dir = drivers
        return adapter
    return make


def test_conformance_through_the_protocol(make_adapter, dataset):
    report = check_adapter(make_adapter(), dataset, tasks=["F+L->T"], n_studies=2)
    assert report.ok, report.render()


def test_outputs_converted_to_canonical_grey(make_adapter, studies):
    out = make_adapter().generate(studies, parse_task("T->F"), [1, 2, 3])
    image = out[0][Modality.FRONTAL]
    assert image.shape == (256, 256) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert not np.allclose(image, out[1][Modality.FRONTAL])  # different studies/seeds, different images


def test_per_study_failures_keep_the_other_studies(make_adapter, studies):
    adapter = make_adapter(fail_ids=["s0"], skip_ids=["s1"], bad_ids=[])
    out = adapter.generate(studies, parse_task("F->T"), [1, 2, 3])
    assert isinstance(out[0], StudyFailure) and "codebook index out of range" in str(out[0])
    assert isinstance(out[1], StudyFailure) and "no output T" in str(out[1])
    assert out[2][Modality.REPORT].startswith("impression: fake report")


def test_out_of_range_output_is_a_study_failure(make_adapter, studies):
    out = make_adapter(bad_ids=["s2"]).generate(studies, parse_task("T->F"), [1, 2, 3])
    assert isinstance(out[2], StudyFailure) and "values must lie in [0, 1]" in str(out[2])
    assert isinstance(out[0], dict)


def test_crash_mid_batch_reports_exit_code_and_log(make_adapter, studies):
    out = make_adapter(exit_after=1).generate(studies, parse_task("T->F"), [1, 2, 3])
    assert isinstance(out[0], dict)  # produced before the crash, still used
    for failure in out[1:]:
        assert isinstance(failure, StudyFailure)
        assert "stage 'encode' exited with code 3" in str(failure) and "CUDA error: out of memory" in str(failure)


def test_time_out_kills_the_driver_and_fails_every_study(make_adapter, studies):
    t0 = time.monotonic()
    out = make_adapter(sleep_s=60, timeout_s=2).generate(studies, parse_task("T->F"), [1, 2, 3])
    assert time.monotonic() - t0 < 30
    assert all(isinstance(o, StudyFailure) and "timed out after 2 s" in str(o) for o in out)


def _loads(adapter):
    return (Path(adapter.settings["repo"]) / "loads.log").read_text().split()


def test_driver_serves_batches_and_loads_its_model_once(make_adapter, studies):
    adapter = make_adapter()
    task = parse_task("T->F")
    first = adapter.generate(studies, task, [1, 2, 3])
    second = adapter.generate(studies, task, [1, 2, 3])
    assert len(_loads(adapter)) == 1  # one process, one load, two batches
    np.testing.assert_array_equal(first[0][Modality.FRONTAL], second[0][Modality.FRONTAL])
    adapter.close()
    assert not adapter._drivers
    one_shot = make_adapter()
    one_shot.settings["keep_driver"] = False
    (Path(one_shot.settings["repo"]) / "loads.log").unlink()
    one_shot.generate(studies, task, [1, 2, 3])
    one_shot.generate(studies, task, [1, 2, 3])
    assert len(_loads(one_shot)) == 2
    np.testing.assert_array_equal(first[0][Modality.FRONTAL], one_shot.generate(studies, task, [1, 2, 3])[0]
                                  [Modality.FRONTAL])


def test_a_crashed_driver_is_started_afresh(make_adapter, studies):
    adapter = make_adapter(exit_after=1)
    task = parse_task("T->F")
    assert isinstance(adapter.generate(studies, task, [1, 2, 3])[1], StudyFailure)
    adapter.settings["behaviour"] = {}
    assert all(isinstance(o, dict) for o in adapter.generate(studies, task, [1, 2, 3]))
    assert len(set(_loads(adapter))) == 2  # a second process
    adapter.close()


def test_unavailable_reasons_name_the_fix(make_adapter, tmp_path):
    assert make_adapter().unavailable_reason() is None
    assert "setting 'repo' is not set" in FakeUpstreamAdapter().unavailable_reason()
    no_checkout = FakeUpstreamAdapter(repo=str(tmp_path), python=sys.executable, vq_python=sys.executable)
    assert "missing ['model.ckpt']" in no_checkout.unavailable_reason()
    adapter = make_adapter()
    adapter.settings["vq_python"] = str(tmp_path / "no-such-python")
    assert "'vq_python'" in adapter.unavailable_reason() and "not an executable" in adapter.unavailable_reason()


def test_settings_record_upstream_commit_not_runtime_paths(make_adapter):
    adapter = make_adapter()
    git = Path(adapter.settings["repo"]) / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text("0123abcd" * 5 + "\n")
    settings = adapter.recorded_settings()
    assert settings["upstream_commit"] == "0123abcd" * 5
    assert not {"repo", "python", "timeout_s", "device", "keep_driver"} & set(settings)


def test_drivers_keep_python37_syntax():
    """Drivers run under the models' own, old interpreters (UniXGen's environment is Python 3.7/3.8)."""
    import ast

    for path in sorted(DRIVERS_DIR.glob("*.py")):
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 7))
    with pytest.raises(SyntaxError):
        ast.parse("if (n := 1): pass", feature_version=(3, 7))


class OldSpellingAdapter(FakeUpstreamAdapter):
    """An external adapter written before the rename: it still overrides `driver_options`."""

    def driver_options(self, task):
        return dict(self.settings["behaviour"])


def test_manifest_says_settings_and_an_old_driver_options_override_still_works(make_adapter, studies, capsys,
                                                                              tmp_path):
    import json

    from xgem_bench import settings as settings_module
    from xgem_bench.adapters.subprocess_protocol import write_batch
    settings_module._noted.clear()
    new = make_adapter(fail_ids=["s0"])
    old = OldSpellingAdapter(**new.settings)
    old.drivers_dir = new.drivers_dir
    task = parse_task("F->T")
    for adapter in (old, old):  # the behaviour reaches the driver through the old method, noted once
        out = adapter.generate(studies, task, [1, 2, 3])
        assert isinstance(out[0], StudyFailure) and isinstance(out[1], dict)
    assert capsys.readouterr().err.count("OldSpellingAdapter.driver_options() is deprecated; use "
                                         "driver_settings()") == 1
    (tmp_path / "work").mkdir()
    manifest = write_batch(tmp_path / "work", "fake", studies[:1], [{}], task, [1], {"top_p": 0.9}, "repo", "cpu")
    assert manifest["settings"] == {"top_p": 0.9}
    assert json.loads((tmp_path / "work" / "manifest.json").read_text())["settings"] == {"top_p": 0.9}


def test_driver_side_reads_settings_and_an_old_manifests_options(tmp_path):
    import json
    sys.path.insert(0, str(DRIVERS_DIR))
    try:
        from _driver_protocol import Batch
    finally:
        sys.path.remove(str(DRIVERS_DIR))
    base = {"protocol": 1, "task": "F->T", "inputs": ["F"], "outputs": ["T"], "device": "cpu", "studies": []}
    for key in ("settings", "options"):  # today's manifest; one written before the rename
        path = tmp_path / f"{key}.json"
        path.write_text(json.dumps({**base, key: {"top_p": 0.5}}))
        batch = Batch(str(path))
        assert batch.settings == {"top_p": 0.5} and batch.options == batch.settings
