"""The `independent` adapter: a joint task as separate single-output calls of a base model, same seeds."""
import numpy as np
import pytest

from xgem_bench.adapters import BUILTIN_ADAPTERS, AdapterContext, get_adapter_class
from xgem_bench.adapters.base import Adapter, StudyFailure
from xgem_bench.data import InMemoryDataset, Study
from xgem_bench.tasks import Modality, parse_task


class OnlyTF(Adapter):
    """Supports T->F only; fails study 'bad'."""
    name = "only-tf"
    tasks = ("T->F",)

    def generate(self, studies, task, seeds):
        return [StudyFailure("no") if s.study_id == "bad" else {Modality.FRONTAL: np.full((4, 4), seed % 7 / 7.0)}
                for s, seed in zip(studies, seeds)]


def _dataset():
    rng = np.random.default_rng(0)
    return InMemoryDataset([Study(f"s{i}", f"p{i}", frontal=rng.random((8, 8), dtype=np.float32),
                                  lateral=rng.random((8, 8), dtype=np.float32), report=f"report {i}",
                                  split="train" if i < 6 else "test") for i in range(10)], name="ind")


def test_outputs_equal_the_single_output_calls_of_the_base():
    dataset = _dataset()
    context = AdapterContext(dataset=dataset)
    independent = get_adapter_class("independent")(base="shuffled")
    shuffled = get_adapter_class("shuffled")()
    independent.setup(context)
    shuffled.setup(context)
    studies = [dataset.load(i).only([Modality.REPORT]) for i in range(6, 10)]
    seeds = [11, 12, 13, 14]
    joint = independent.generate(studies, parse_task("T->F+L"), seeds)
    frontal = shuffled.generate(studies, parse_task("T->F"), seeds)
    lateral = shuffled.generate(studies, parse_task("T->L"), seeds)
    for j, f, l in zip(joint, frontal, lateral):
        assert set(j) == {Modality.FRONTAL, Modality.LATERAL}
        assert np.array_equal(j[Modality.FRONTAL], f[Modality.FRONTAL])
        assert np.array_equal(j[Modality.LATERAL], l[Modality.LATERAL])
    assert independent.recorded_settings()["base"] == "shuffled" and independent.supports(parse_task("L->F+T"))
    assert not independent.supports(parse_task("L->F"))


def test_unsupported_parts_failures_and_availability(monkeypatch):
    monkeypatch.setitem(BUILTIN_ADAPTERS, "only-tf", f"{__name__}:OnlyTF")
    adapter = get_adapter_class("independent")(base="only-tf")
    studies = [Study("ok"), Study("bad")]
    with pytest.raises(ValueError, match="does not support T->L"):
        adapter.generate(studies, parse_task("T->F+L"), [1, 2])
    with pytest.raises(ValueError, match="another model"):
        get_adapter_class("independent")(base="independent")
    xgem = get_adapter_class("independent")(base="xgem")
    reason = xgem.unavailable_reason()
    assert reason.startswith("base model xgem: ") and "xgem-bench train" in reason
