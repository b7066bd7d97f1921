"""The two simple built-in statistics against hand-computed values."""
import numpy as np
import pytest

from xgem_bench.data import Study
from xgem_bench.metrics import MetricContext, Sample, get_metric_class
from xgem_bench.metrics.token_f1 import token_f1
from xgem_bench.tasks import Modality, parse_task


def test_token_f1_closed_forms():
    assert token_f1("No effusion.", "no effusion") == 1.0
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0
    # overlap {small, effusion} = 2; precision 2/3, recall 2/4 -> F1 = 4/7
    assert token_f1("small right effusion", "small left pleural effusion") == pytest.approx(4 / 7)
    assert token_f1("effusion effusion", "effusion") == pytest.approx(2 * 0.5 * 1 / 1.5)


def test_pixel_mae_and_merge_across_ranks():
    ref = np.zeros((4, 4), np.float32)
    studies = [Study(f"s{i}", frontal=ref) for i in range(3)]
    generated = [np.full((4, 4), v, np.float32) for v in (0.1, 0.2, 0.6)]
    context = MetricContext(task=parse_task("T->F"), modality=Modality.FRONTAL)
    cls = get_metric_class("pixel-mae")
    whole, part_a, part_b = cls(context), cls(context), cls(context)
    samples = [Sample(s, {Modality.FRONTAL: g}) for s, g in zip(studies, generated)]
    whole.update(samples)
    part_a.update(samples[:1])
    part_b.update(samples[1:])
    part_a.merge_state(part_b.state_dict())
    assert whole.compute()["pixel_mae"] == pytest.approx(0.3)
    assert part_a.compute() == pytest.approx(whole.compute())
    per_sample = {sid: values["pixel_mae"] for sid, values in part_a.per_sample().items()}
    assert per_sample == pytest.approx({"s0": 0.1, "s1": 0.2, "s2": 0.6})
    # a generated image of another size is area-resized to the reference size first
    big = cls(context)
    big.update([Sample(studies[0], {Modality.FRONTAL: np.full((8, 8), 0.25, np.float32)})])
    assert big.compute()["pixel_mae"] == pytest.approx(0.25)
