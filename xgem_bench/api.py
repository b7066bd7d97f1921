"""The Python API behind the commands that are not already one function elsewhere: `fid`, `score_reports`, `tables`,
`compare`. `import xgem_bench` exposes them with `run` and `load_dataset` (see `xgem_bench.__all__`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence


def fid(a: str | Path, b: str | Path, backbone: str = "inception", view: str = "F", split: str = "test",
        ids: Sequence[str] | None = None, ci: Mapping[str, Any] | None = None, device: str = "auto",
        batch_size: int = 32, **settings: Any) -> dict[str, Any]:
    """FID between two image sets (`xgem-bench fid`).

    `a`, `b`: folders of image files, manifests (.csv / .parquet) or dataset specs such as "demo"; datasets are read
    at `split` ('all': every study) and `view` (F or L). `ids`: only these studies (folders: file name stems).
    `ci`: None, or bootstrap settings {n_resamples, level, seed} for an interval that redraws both sets.
    `settings`: backbone settings (layer, variant, quantize, ...). Returns fid, n_a, n_b, backbone signature,
    weights and their sha256, and `interval` when asked for.
    """
    from xgem_bench.image_sets import images_of
    from xgem_bench.metrics.fid import fid_between
    from xgem_bench.metrics.fid_resampling import two_sample_fid_ci

    ids = list(ids) if ids is not None else None
    result = fid_between(images_of(Path(a), view, split, ids), images_of(Path(b), view, split, ids),
                         backbone=backbone, device=device, batch_size=batch_size, keep_features=ci is not None,
                         **settings)
    if ci is not None:
        features = result.pop("features_a"), result.pop("features_b")
        result["interval"] = two_sample_fid_ci(*features, **ci).to_dict()
    return result


def score_reports(hyp: str | Path, ref: str | Path, metrics: Iterable[str] | None = None,
                  hyp_column: str | None = None, ref_column: str | None = None, intersect: bool = False,
                  ci: Mapping[str, Any] | None = None, settings: Mapping[str, Mapping] | None = None,
                  batch_size: int = 64, device: str = "cpu", preset: str | None = None
                  ) -> tuple[dict, list[tuple[str, str, str, float]]]:
    """Score the generated reports of CSV `hyp` against the reference reports of CSV `ref` (`xgem-bench
    score-reports`), matched by id.

    `metrics`: text metric names as in `run` (bleu, chexpert-f1, radgraph-f1, ratescore; default those four).
    `hyp_column` / `ref_column`: report column names. `intersect`: leave out references without a hypothesis.
    `ci`: None, or {n_resamples, level, seed} for a bootstrap interval of each primary value.
    `preset`: a named set of metrics and settings (`xgem_bench.presets`, e.g. "rexrank") under `metrics` and
    `settings`; each metric's primary value is then the one the preset reads, and the summary names the preset.
    Returns the summary ({"n", "n_ref_left_out", "metrics": {name: {status, reason, values, signature, ...}}}) and
    the per-report rows (study_id, metric, key, value).
    """
    from xgem_bench.report_scores import add_intervals, match_reports, read_reports_csv
    from xgem_bench.report_scores import score_reports as score

    hypotheses = read_reports_csv(hyp, report_column=hyp_column)
    references = read_reports_csv(ref, report_column=ref_column)
    pairs = match_reports(hypotheses, references, hyp_name=str(hyp), ref_name=str(ref), intersect=intersect)
    if preset is not None:
        from xgem_bench.presets import apply_preset
        from xgem_bench.report_scores import resolve_metric
        metrics = None if metrics is None else [resolve_metric(m) for m in metrics]
        metrics, settings = apply_preset(preset, metrics, {resolve_metric(k): v for k, v in (settings or {}).items()})
    summary, rows = score(pairs, metrics, settings=settings, batch_size=batch_size, device=device)
    if preset is not None:
        _name_preset(summary, preset)
    if ci is not None:
        add_intervals(summary, rows, **ci)
    return {"hyp": str(hyp), "ref": str(ref), "n_ref_left_out": len(references) - len(pairs), **summary}, rows


def _name_preset(summary: dict, preset: str) -> None:
    """Record the preset and make each metric's primary value the one the preset reads (e.g. bleu2)."""
    from xgem_bench.presets import get_preset
    chosen = get_preset(preset)
    summary["preset"] = preset
    for name, record in summary["metrics"].items():
        key = chosen.key_of(name)
        if key and record["status"] == "ok":
            record["primary"] = key


def tables(runs: Sequence[str | Path | dict], table: str, fmt: str = "md", ci: Mapping[str, Any] | None = None,
           with_paper: bool = False, digits: int = 2, root: str | Path = "results",
           all_tasks: bool = False, by: str | None = None,
           leaderboard: str | Path | None = None) -> str:
    """One of the paper's tables (2, 3, 4, 5, 6, 7, A1, A2), the ReXrank layout (rexrank) or `extended` (the metrics
    beyond the paper), from finished runs (`xgem-bench tables`), as text in `fmt` (latex, md, csv). `runs`: run
    folders, run ids under `root`, or loaded results. `ci`: None, or bootstrap settings {n_resamples, level, seed}.
    `all_tasks`: keep the columns of tasks no run covers. `by`: stratify (pathology, view, sex, age, race; see
    `xgem_bench.strata`). `leaderboard`: rexrank only, a CSV of published leaderboard rows to show beside the runs'."""
    if by:
        from xgem_bench.strata_views import stratified_text
        return stratified_text(runs, table, by, fmt, ci, with_paper, digits, root, all_tasks)
    from xgem_bench.tables import table_text
    return table_text(runs, table, fmt, ci, with_paper, digits, root, all_tasks, leaderboard)


def compare(runs: Sequence[str | Path | dict], task: str, metric: str, a: str, b: str, key: str | None = None,
            test: str = "bootstrap", n_resamples: int = 1000, seed: int = 0, level: float = 0.95,
            root: str | Path = "results") -> dict:
    """Two-sided paired test that models `a` and `b` differ on value `key` (default: the metric's primary value)
    of `metric` on `task`, over the studies both scored (`xgem-bench compare`). `test`: bootstrap or
    randomisation. Returns the difference (a - b), both values, the p-value and, for the bootstrap, its interval."""
    from xgem_bench.metrics import get_metric_class
    from xgem_bench.measurements import compare_models
    from xgem_bench.tasks import parse_task

    key = key or get_metric_class(metric).primary
    return compare_models(_load(runs, root), parse_task(task).name, metric, key, a, b, test, n_resamples, seed,
                          level)


def _load(runs: Sequence[str | Path | dict], root: str | Path) -> list[dict]:
    from xgem_bench.results import load_runs
    return load_runs(runs, root)
