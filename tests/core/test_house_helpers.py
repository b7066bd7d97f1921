"""The shared helpers of the house step: atomic paths (files and folders), the settings contract and its CLI parser,
the missing-weights message, the device choice, and the old spellings that keep working."""
import os
import socket

import numpy as np
import pytest

from xgem_bench import settings as settings_module
from xgem_bench import weights
from xgem_bench.adapters import get_adapter_class
from xgem_bench.adapters.base import Adapter
from xgem_bench.atomic import TEMP_MARK, atomic_path, remove_stale_temporaries
from xgem_bench.distributed import ProcessGroup, resolve_device
from xgem_bench.metrics.base import Metric, MetricContext
from xgem_bench.settings import parse_settings
from xgem_bench.tasks import Modality, parse_task


def test_atomic_path_publishes_a_file_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "stats.npz"
    with atomic_path(target) as staging:
        assert staging.suffix == ".npz" and staging.parent == tmp_path  # np.savez adds no second suffix
        np.savez(staging, x=np.arange(3))
        assert not target.exists()
    assert np.load(target)["x"].tolist() == [0, 1, 2]
    with pytest.raises(RuntimeError):
        with atomic_path(target) as staging:
            staging.write_bytes(b"half")
            raise RuntimeError("killed")
    assert np.load(target)["x"].tolist() == [0, 1, 2] and sorted(os.listdir(tmp_path)) == ["stats.npz"]


def test_atomic_path_builds_a_folder_and_keeps_one_published_first(tmp_path):
    folder = tmp_path / "demo"
    with atomic_path(folder, folder=True) as staging:
        (staging / "manifest.csv").write_text("a")
    with atomic_path(folder, folder=True) as staging:  # a second builder that lost the race
        (staging / "manifest.csv").write_text("b")
    assert (folder / "manifest.csv").read_text() == "a" and sorted(os.listdir(tmp_path)) == ["demo"]


def test_a_killed_writers_temporary_folder_is_removed(tmp_path):
    dead = tmp_path / f".x{TEMP_MARK}{socket.gethostname()}-999999999-abc"  # no process has this pid
    (dead / "inner").mkdir(parents=True)
    assert remove_stale_temporaries(tmp_path) == [dead] and not dead.exists()


def test_parse_settings_reads_json_values_and_refuses_other_shapes():
    assert parse_settings(["xgem.steps=20", "bleu.smoothing=coco", "xgem.eta=0.5"], "model") == {
        "xgem": {"steps": 20, "eta": 0.5}, "bleu": {"smoothing": "coco"}}
    assert parse_settings(["layer=features", "channels_last=false"], "backbone", owner=False) == {
        "layer": "features", "channels_last": False}
    for pair, owner in (("oracle", True), ("steps=3", True), ("=3", False), ("layer", False)):
        with pytest.raises(ValueError, match="must look like"):
            parse_settings([pair], "model", owner=owner)


class _Strict(Metric):
    name, kind, primary = "strict", "text", "value"

    @classmethod
    def default_settings(cls):
        return {"mode": "a", "n": 1}

    @classmethod
    def allowed_settings(cls):
        return {"mode": ("a", "b")}

    def update(self, samples):
        pass

    def compute(self):
        return {"value": 0.0}


def test_one_contract_checks_keys_and_values_and_writes_the_signature():
    context = MetricContext(task=parse_task("F->T"), modality=Modality.REPORT)
    assert _Strict(context, n=2).signature == "strict|mode:a|n:2"
    with pytest.raises(ValueError, match=r"metric 'strict' has no setting\(s\) \['m'\]; its settings are \['mode', 'n'\]"):
        _Strict(context, m="b")
    with pytest.raises(ValueError, match="metric 'strict': setting mode='c' is not one of a, b"):
        _Strict(context, mode="c")
    with pytest.raises(ValueError, match="adapter 'roentgen': setting dtype='fp8' is not one of"):
        get_adapter_class("roentgen")(dtype="fp8")
    with pytest.raises(ValueError, match="adapter 'cxrmate': setting prior='x'"):
        get_adapter_class("cxrmate")(prior="x")


def test_the_missing_weights_message_names_every_missing_weight():
    class NeedsTwo(_Strict):
        weights = ("xrv-densenet121-res224-all", "xrv-densenet121-res224-mimic_ch")

    reason = NeedsTwo.unavailable_reason()  # the isolated test weights folder holds neither
    assert reason.startswith("2 weights are missing (xrv-densenet121-res224-all, xrv-densenet121-res224-mimic_ch)")
    assert "`xgem-bench weights fetch xrv-densenet121-res224-all xrv-densenet121-res224-mimic_ch`" in reason
    assert weights.missing_weights_reason([]) is None


def test_old_adapter_spellings_still_work_with_a_note(capsys):
    settings_module._noted.clear()

    class Legacy(Adapter):
        name, tasks = "legacy", ("T->F",)

        @classmethod
        def default_options(cls):
            return {"sigma": 1.0}

        def generate(self, studies, task, seeds):
            return []

    adapter = Legacy(sigma=2.0)
    assert adapter.settings == {"sigma": 2.0} and adapter.options == {"sigma": 2.0}
    assert adapter.recorded_settings() == {"sigma": 2.0}
    Legacy()
    err = capsys.readouterr().err
    assert err.count("Legacy.default_options() is deprecated; use default_settings()") == 1
    assert "Adapter.options is deprecated; use Adapter.settings" in err


def test_device_choice_and_a_single_process_group():
    assert resolve_device("cpu") == "cpu" and resolve_device("cuda:1") == "cuda:1"
    import torch
    assert resolve_device("auto") == ("cuda:0" if torch.cuda.is_available() else "cpu")
    group = ProcessGroup.join()  # not launched: rank 0 of 1, no group to own
    assert (group.rank, group.world_size, group.owns_group) == (0, 1, False)
    assert group.gather("x") == ["x"] and group.broadcast(3) == 3
