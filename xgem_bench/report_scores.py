"""Standalone report scoring: generated reports in one CSV, real reports in another, any text metric of the registry.

CSV format (both files): UTF-8 (a byte-order mark is allowed), a header row, one row per report, with an id column
named ``id`` or ``study_id`` and a report column named ``report``, ``text`` or ``reports`` (case-insensitive; other
columns are ignored). Ids must be unique within a file, and both files must hold exactly the same ids (the order
may differ: references are matched by id). An empty report cell is a valid, empty report and is scored as each metric
scores empty text. Anything else (unreadable bytes, missing columns, duplicate or unmatched ids) raises
`ReportFileError` naming the file, row and problem.

This is the Python API behind `xgem-bench score-reports`.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Iterable, Mapping

from xgem_bench.atomic import atomic_path
from xgem_bench.tasks import Modality, parse_task

ID_COLUMNS = ("id", "study_id")
REPORT_COLUMNS = ("report", "text", "reports")
#: short names accepted by `score-reports --metrics`, resolved to registry names
ALIASES = {"chexpert": "chexpert-f1", "radgraph": "radgraph-f1", "rate": "ratescore", "rate-score": "ratescore"}
DEFAULT_METRICS = ("bleu", "chexpert", "radgraph", "rate")


class ReportFileError(ValueError):
    """A hypothesis or reference file that cannot be scored as given."""


def _pick(header: list[str], wanted: tuple[str, ...], path: Path, what: str) -> int:
    lowered = [h.strip().lower() for h in header]
    hits = [i for i, h in enumerate(lowered) if h in wanted]
    if len(hits) != 1:
        problem = "has no" if not hits else "has more than one"
        raise ReportFileError(f"{path}: the header {header} {problem} {what} column (one of {', '.join(wanted)})")
    return hits[0]


#: NUL, tab, newline, ...: never valid in an id
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def read_id_csv(path: str | Path, columns: Mapping[str, tuple[str, ...]], required: Iterable[str] | None = None,
                id_column: tuple[str, ...] = ID_COLUMNS) -> dict[str, dict[str, str]]:
    """id -> {field: cell} in file order, for a UTF-8 CSV with a header.

    `columns` maps each field to the header names accepted for it (case-insensitive); fields in `required` (default:
    all) must have exactly one column, the others are read when present. Ids must be non-empty and unique.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ReportFileError(f"cannot read {path}: {error.strerror or error}") from error
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise ReportFileError(f"{path}: line {line} is not valid UTF-8 (byte 0x{raw[error.start]:02x} at offset "
                              f"{error.start}); re-save the file as UTF-8") from error
    csv.field_size_limit(1 << 30)  # very long reports are valid reports
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if not header:
        raise ReportFileError(f"{path} is empty; expected a header row with an id column ({', '.join(id_column)})")
    required = set(columns) if required is None else set(required)
    id_col = _pick(header, id_column, path, "id")
    picked = {field: _pick(header, names, path, field) for field, names in columns.items()
              if field in required or _present(header, names)}
    table: dict[str, dict[str, str]] = {}
    for number, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) <= max(id_col, *picked.values()):
            raise ReportFileError(f"{path}: row {number} has {len(row)} fields, expected {len(header)}")
        study_id = row[id_col].strip()
        if not study_id:
            raise ReportFileError(f"{path}: row {number} has an empty id")
        if study_id in table:
            raise ReportFileError(f"{path}: id {study_id!r} appears twice (again on row {number})")
        if CONTROL_CHARACTERS.search(study_id):  # a NUL byte would silently truncate the id downstream
            raise ReportFileError(f"{path}: row {number} has control characters in its id {study_id!r}")
        table[study_id] = {field: row[i] for field, i in picked.items()}
    if not table:
        raise ReportFileError(f"{path} has a header but no reports (no rows); nothing to score")
    return table


def _present(header: list[str], names: tuple[str, ...]) -> bool:
    return any(h.strip().lower() in names for h in header)


def read_reports_csv(path: str | Path, id_column: str | None = None, report_column: str | None = None
                     ) -> dict[str, str]:
    """id -> report text, in file order; see the module docstring for the format (column names may be given)."""
    ids = (id_column.strip().lower(),) if id_column else ID_COLUMNS
    reports = (report_column.strip().lower(),) if report_column else REPORT_COLUMNS
    return {i: row["report"] for i, row in read_id_csv(path, {"report": reports}, id_column=ids).items()}


def match_reports(hypotheses: Mapping[str, str], references: Mapping[str, str],
                  hyp_name: str = "hypotheses", ref_name: str = "references", intersect: bool = False,
                  ) -> list[tuple[str, str, str]]:
    """(id, hypothesis, reference) in hypothesis order.

    The two sets of ids must be identical; with `intersect`, references without a hypothesis are left out (a
    reference set larger than the hypotheses), while a hypothesis without a reference is still an error."""
    missing_ref = [i for i in hypotheses if i not in references]
    missing_hyp = [] if intersect else [i for i in references if i not in hypotheses]
    if missing_ref or missing_hyp:
        def some(ids):
            return ", ".join(repr(i) for i in ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        details = [f"{hyp_name} has {len(hypotheses)} reports, {ref_name} has {len(references)}"]
        if missing_ref:
            details.append(f"ids only in {hyp_name}: {some(missing_ref)}")
        if missing_hyp:
            details.append(f"ids only in {ref_name}: {some(missing_hyp)} (--intersect scores only the ids of "
                           f"{hyp_name})")
        raise ReportFileError("hypotheses and references do not match: " + "; ".join(details))
    return [(i, hypotheses[i], references[i]) for i in hypotheses]


def resolve_metric(name: str) -> str:
    """A registry name for `name` (short aliases allowed); KeyError with suggestions if unknown."""
    from xgem_bench.metrics import get_metric_class
    name = ALIASES.get(name.strip().lower(), name.strip().lower())
    cls = get_metric_class(name)
    if cls.kind != "text":
        raise KeyError(f"metric {name!r} scores {cls.kind} outputs, not reports")
    return name


def score_reports(pairs: Iterable[tuple[str, str, str]], metrics: Iterable[str] | None = None,
                  settings: Mapping[str, Mapping] | None = None, batch_size: int = 64, device: str = "cpu",
                  ) -> tuple[dict, list[tuple[str, str, str, float]]]:
    """Score (id, hypothesis, reference) pairs with each text metric (default: bleu, chexpert, radgraph, rate).

    Returns the summary ({"n": ..., "metrics": {name: {"status", "reason", "settings", "signature", "values"}}}) and
    the per-sample rows (study_id, metric, key, value). A metric that cannot run here is reported with status
    "skipped" and the reason (naming the fixing command); one that raises while scoring is "failed".
    """
    from xgem_bench.data.study import Study
    from xgem_bench.metrics import MetricContext, MetricUnavailable, Sample, get_metric_class
    from xgem_bench.scoring import compute_metric, describe_error, update_metrics

    pairs = list(pairs)
    settings = {resolve_metric(k): v for k, v in (settings or {}).items()}
    summary: dict = {"n": len(pairs), "metrics": {}}
    if metrics is None:  # the defaults: one missing from this installation is reported, not an error
        metrics = []
        for name in DEFAULT_METRICS:
            try:
                metrics.append(resolve_metric(name))
            except KeyError as error:
                summary["metrics"][ALIASES.get(name, name)] = {"status": "skipped", "reason": str(error.args[0])}
    names = list(dict.fromkeys(resolve_metric(m) for m in metrics))
    context = MetricContext(task=parse_task("F->T"), modality=Modality.REPORT, batch_size=batch_size, device=device)
    samples = [Sample(Study(study_id, report=ref), {Modality.REPORT: hyp}) for study_id, hyp, ref in pairs]
    made = {}
    for name in names:
        cls = get_metric_class(name)
        chosen = dict(settings.get(name, {}))
        record = summary["metrics"][name] = {"status": "ok", "reason": None, "primary": cls.primary}
        reason = cls.unavailable_reason({**cls.default_settings(), **chosen})
        if reason:
            record.update(status="skipped", reason=reason)
            continue
        try:
            made[name] = cls(context, **chosen)
        except (ValueError, TypeError):  # bad settings: the user's error, not a metric failure
            raise
        except MetricUnavailable as error:
            record.update(status="skipped", reason=str(error))
            continue
        except Exception as error:  # noqa: BLE001 - one broken metric must not lose the others
            record.update(status="failed", reason=describe_error(error))
            continue
        record.update(settings=made[name].settings, signature=made[name].signature)
    # the runner's scoring path: batch by batch, a metric that raises stops alone
    stopped: dict[str, tuple[str, str]] = {}
    for start in range(0, len(samples), batch_size):
        update_metrics(made, samples[start:start + batch_size], stopped)
    per_sample: list[tuple[str, str, str, float]] = []
    for name, metric in made.items():
        record = summary["metrics"][name]
        if name in stopped:
            record.update(status=stopped[name][0], reason=stopped[name][1])
        elif compute_metric(metric, record):
            per_sample.extend((study_id, name, key, value)
                              for study_id, values in metric.per_sample().items() for key, value in values.items())
    return summary, per_sample


def write_per_sample(rows: Iterable[tuple[str, str, str, float]], path: str | Path) -> None:
    """Long-format CSV (study_id, metric, key, value), written atomically."""
    with atomic_path(Path(path)) as staging, open(staging, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["study_id", "metric", "key", "value"])
        writer.writerows(rows)


def add_intervals(summary: dict, per_sample: Iterable[tuple[str, str, str, float]], n_resamples: int = 1000,
                  level: float = 0.95, seed: int = 0) -> None:
    """Add a percentile bootstrap interval over reports of each scored metric's primary value, as
    `summary["metrics"][name]["interval"]` (or `interval_error` with the reason when it cannot be resampled).

    The resampled statistic is the one `tables --ci` uses for a run (corpus BLEU from per-report n-gram counts,
    label F1 from per-report labels, else the mean), read from the same long format a run stores."""
    import tempfile

    from xgem_bench.results import PER_SAMPLE_COLUMNS, _csv_text
    from xgem_bench.recompute import run_resampleable
    from xgem_bench.stats import StatsUnavailable, bootstrap_ci

    with tempfile.TemporaryDirectory(prefix="xgem-score-reports-") as folder:
        rows = ((HYPOTHESES_MODEL, study_id, metric, Modality.REPORT.value, key, value)
                for study_id, metric, key, value in per_sample)
        (Path(folder) / "per_sample.csv").write_text(_csv_text(PER_SAMPLE_COLUMNS, rows))
        run = {"run_dir": folder}
        for name, record in summary["metrics"].items():
            if record["status"] != "ok":
                continue
            try:
                data = run_resampleable(run, HYPOTHESES_MODEL, {**record, "metric": name,
                                                                "modality": Modality.REPORT.value},
                                        record["primary"])
                record["interval"] = bootstrap_ci(data, n_resamples, level, seed).to_dict()
            except (StatsUnavailable, ValueError) as error:
                record["interval_error"] = str(error)


HYPOTHESES_MODEL = "hypotheses"  # the model name the per-report rows carry while resampling
