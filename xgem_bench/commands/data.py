"""`xgem-bench data ...`: prepare datasets and inspect them."""
from __future__ import annotations

from pathlib import Path

import typer

from xgem_bench.commands._common import user_errors


def register(app: typer.Typer) -> None:
    data = typer.Typer(no_args_is_help=True, help="Prepare and inspect datasets.")
    app.add_typer(data, name="data")

    @data.command("prepare-mimic")
    def prepare_mimic_command(
        source: Path = typer.Argument(..., help="MIMIC-CXR(-JPG) 2.0.0 folder: metadata/split CSVs and files/"),
        out: Path = typer.Argument(..., help="folder for the preprocessed images and manifest"),
        split: str = typer.Option("official", help="official (the split CSV) or holdout (subject-disjoint)"),
        holdout_fraction: float = typer.Option(0.22, help="share of subjects held out as test with --split holdout"),
        allow_incomplete: bool = typer.Option(False, help="keep studies lacking a view or a report"),
        workers: int = typer.Option(1, min=1, help="parallel decoding processes"),
        limit: int = typer.Option(0, min=0, help="only the first N studies (0: all)"),
    ):
        """Preprocess MIMIC-CXR once (paper section 3.1) into OUT; use it as --dataset mimic-cxr:OUT."""
        from xgem_bench.data.mimic import MimicError, prepare_mimic

        with user_errors(MimicError, OSError):
            manifest = prepare_mimic(source, out, split=split, holdout_fraction=holdout_fraction,
                                     require_both=not allow_incomplete, workers=workers, limit=limit or None,
                                     progress=True)
        _print_summary(manifest)

    @data.command("info")
    def info_command(dataset: str = typer.Argument("demo", help="demo, manifest:PATH, mimic-cxr:DIR, iu-xray:DIR"),
                     check_files: bool = typer.Option(False, help="also check that every image file exists")):
        """What a dataset holds: splits, modalities, label prevalence, fingerprint."""
        from xgem_bench.data import load_dataset
        from xgem_bench.data.iuxray import IUXrayError
        from xgem_bench.data.manifest import ManifestError
        from xgem_bench.data.mimic import MimicError

        with user_errors(ManifestError, MimicError, IUXrayError, ValueError, OSError):
            ds = load_dataset(dataset)
        typer.echo(describe(ds))
        if check_files and hasattr(ds, "missing_files"):
            missing = ds.missing_files()
            typer.echo(f"missing image files: {len(missing)}")
            for path in missing[:10]:
                typer.echo(f"  {path}")
            if missing:
                raise typer.Exit(1)


    @data.command("export")
    def export_command(
        dataset: str = typer.Argument(..., help="demo, manifest:PATH, mimic-cxr:DIR, iu-xray:DIR"),
        out: Path = typer.Option(..., "--out", "-o", help="empty folder for manifest.csv and images/"),
        split: str = typer.Option("test", help="split to export ('all' for every study)"),
        task: str = typer.Option(None, "--task", "-t", help="only the studies and input modalities of this task, "
                                                           "e.g. --task 'T->F' (quote it: > is a shell redirect)"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    ):
        """Write what an external generator needs: manifest.csv (study_id, report, frontal, lateral, labels) and
        the conditioning images as PNG. Score the outputs later with `run --predictions NAME=PATH`."""
        from xgem_bench.data import load_dataset
        from xgem_bench.data.export import export_inputs

        with user_errors(ValueError, OSError):
            manifest = export_inputs(load_dataset(dataset), out, split=split, task=task, progress=not quiet)
        _print_summary(manifest)


def _print_summary(manifest: Path) -> None:
    from xgem_bench.data.manifest import read_manifest

    typer.echo(describe(read_manifest(manifest)))
    typer.echo(f"manifest: {manifest}")


def describe(ds) -> str:
    """A short plain-text description of a dataset (no pixels read)."""
    from collections import Counter

    from xgem_bench.data.study import CHEXPERT_LABELS
    from xgem_bench.tasks import Modality

    lines = [f"dataset: {ds.name}{'  [SYNTHETIC: not patient data]' if ds.synthetic else ''}",
             f"studies: {len(ds)}  fingerprint: {ds.fingerprint()}",
             "splits: " + ", ".join(f"{k}={v}" for k, v in sorted(Counter(ds.splits).items())),
             "present: " + ", ".join(f"{m.field}={int(ds.available(m).sum())}" for m in Modality)]
    if hasattr(ds, "label_table"):
        positive = (ds.label_table() == 1).sum()
        if positive.any():
            lines.append("positive labels: " + ", ".join(f"{n}={positive[n]}" for n in CHEXPERT_LABELS
                                                         if positive.get(n, 0)))
    licence = getattr(ds, "meta", {}).get("licence")
    if licence:
        lines.append(f"licence: {licence}")
    return "\n".join(lines)
