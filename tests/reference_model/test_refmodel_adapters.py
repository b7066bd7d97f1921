"""The `xgem`, `codi-xr` and `independent` adapters on the tiny trained checkpoint: their outputs are what
`XGeM.generate` returns for the same inputs, seeds and (documented default) sampler settings, and each passes the
whole conformance check on every task it declares."""
import numpy as np
import pytest

from xgem_bench.adapters import get_adapter_class
from xgem_bench.adapters.base import AdapterContext
from xgem_bench.adapters.conformance import check_adapter
from xgem_bench.reference_model.model import XGeM
from xgem_bench.tasks import parse_task

from refmodel_fixtures import toy_studies

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]
STEPS = 3


@pytest.mark.parametrize("name", ["xgem", "codi-xr"])
@pytest.mark.parametrize("task", ["L->F+T", "F+T->L"])
def test_adapter_outputs_equal_xgem_generate(trained_tiny, name, task):
    root, _ = trained_tiny
    adapter = get_adapter_class(name)(checkpoint=str(root), steps=STEPS)
    adapter.setup(AdapterContext())
    task = parse_task(task)
    studies = [s.only(task.inputs) for s in toy_studies(2)]
    got = adapter.generate(studies, task, [3, 4])

    model = XGeM.load(root, name)
    inputs = {m.field: [s.get(m) for s in studies] for m in task.inputs}
    expected = model.generate(inputs, [m.field for m in task.outputs], [3, 4], steps=STEPS, guidance=7.5, eta=0.0,
                              strategy="sample")
    for i, outputs in enumerate(got):
        assert set(outputs) == set(task.outputs)
        for modality, value in outputs.items():
            if modality.is_image:
                np.testing.assert_array_equal(value, expected[modality.field][i])
            else:
                assert value == expected[modality.field][i]


@pytest.mark.parametrize("name", ["xgem", "codi-xr", "independent"])
def test_adapter_passes_the_whole_conformance_check(trained_tiny, toy_dataset, name):
    root, _ = trained_tiny
    options = {"checkpoint": str(root), "steps": STEPS}
    adapter = get_adapter_class(name)(**({"base": "xgem", "base_settings": options} if name == "independent"
                                         else options))
    report = check_adapter(adapter, toy_dataset, n_studies=2)
    assert report.ok, report.render()
    checked = {c.task for c in report.checks if c.task}
    assert checked == {t.name for t in adapter.supported_tasks()}
