"""The scoring path shared by `xgem-bench run` (the runner) and `xgem-bench score-reports`: metrics update batch by
batch, a metric that raises is stopped (skipped when it cannot run here, failed otherwise) without losing the other
metrics' work, and each surviving metric computes once, its reference statistics prepared first."""
from __future__ import annotations

import traceback
from pathlib import Path
from typing import Mapping, Sequence

from xgem_bench.metrics.base import Metric, MetricUnavailable, ReferenceSet, Sample


def describe_error(error: BaseException) -> str:
    """`Type: message (file:line)` of where it was raised."""
    frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    where = f" ({Path(frame.filename).name}:{frame.lineno})" if frame else ""
    return f"{type(error).__name__}: {error}{where}"


def update_metrics(metrics: Mapping[str, Metric], samples: Sequence[Sample],
                   stopped: dict[str, tuple[str, str]]) -> None:
    """Every metric not yet in `stopped` scores the batch; one that raises goes into `stopped` as (status, reason)."""
    if not samples:
        return
    for key, metric in metrics.items():
        if key in stopped:
            continue
        try:
            metric.update(samples)
        except MetricUnavailable as error:  # discovered only on real data (e.g. a view the model lacks)
            stopped[key] = ("skipped", str(error))
        except Exception as error:  # noqa: BLE001 - a broken metric must not lose the other metrics' work
            stopped[key] = ("failed", describe_error(error))


def compute_metric(metric: Metric, record: dict, reference: ReferenceSet | None = None) -> bool:
    """Fill `record` with the metric's values (its reference statistics prepared first when a reference set is
    given), or with status skipped / failed and the reason; True when it has values."""
    try:
        if reference is not None:
            metric.prepare_reference(reference)
        record["values"] = metric.compute()
    except MetricUnavailable as error:
        record.update(status="skipped", reason=str(error))
        return False
    except Exception as error:  # noqa: BLE001 - one broken metric must not lose the others
        record.update(status="failed", reason=describe_error(error))
        return False
    return True
