"""Helpers of the report-metric tests: a text metric on a report task, and Sample records from text pairs."""
from xgem_bench.data.study import Study
from xgem_bench.metrics import MetricContext, Sample, get_metric_class
from xgem_bench.tasks import Modality, parse_task


def make_metric(name: str, batch_size: int = 16, **settings):
    context = MetricContext(task=parse_task("F->T"), modality=Modality.REPORT, batch_size=batch_size)
    return get_metric_class(name)(context, **settings)


def samples(pairs):
    """(generated, reference) pairs -> Samples with study ids s0, s1, ..."""
    return [Sample(Study(f"s{i}", report=ref), {Modality.REPORT: hyp}) for i, (hyp, ref) in enumerate(pairs)]
