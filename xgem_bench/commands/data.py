"""`xgem-bench data ...`: prepare datasets and inspect them."""
from __future__ import annotations

from pathlib import Path

import typer

from xgem_bench.commands._common import fail, user_errors


def register(app: typer.Typer) -> None:
    data = typer.Typer(no_args_is_help=True, help="Prepare and inspect datasets.")
    app.add_typer(data, name="data")

    @data.command("prepare-mimic")
    def prepare_mimic_command(
        source: Path = typer.Argument(..., help="image folder with files/pXX/...: MIMIC-CXR (DICOMs) or MIMIC-CXR-JPG"),
        out: Path = typer.Argument(..., help="folder for the preprocessed images and manifest"),
        reports: Path = typer.Option(None, help="MIMIC-CXR folder with files/pXX/pSUBJECT/sSTUDY.txt [default: SRC]"),
        csv_dir: Path = typer.Option(None, help="MIMIC-CXR-JPG folder with mimic-cxr-2.0.0-*.csv.gz [default: SRC]"),
        report_section: str = typer.Option("impression", help="impression (the paper), findings, or conclusion "
                                           "(impression > findings > last paragraph > comparison, as the official "
                                           "create_section_files.py)"),
        views: str = typer.Option("pair", help="pair: one row per study (PA else AP, LATERAL else LL); all: one row "
                                  "per image with an image of the other view, as XGeM trains"),
        split: str = typer.Option("official", help="official (the split CSV) or holdout (subject-disjoint)"),
        split_file: Path = typer.Option(None, help="test ids (study or dicom ids, or a CSV with a dicom_id / "
                                        "study_id / subject_id column); everything else is train"),
        holdout_fraction: float = typer.Option(0.22, help="share of subjects held out as test with --split holdout"),
        allow_jpg: bool = typer.Option(False, help="accept MIMIC-CXR-JPG images (8-bit, equalised, lossy; the paper "
                                       "used DICOMs)"),
        allow_incomplete: bool = typer.Option(False, help="keep studies lacking a view or a report text"),
        workers: int = typer.Option(0, min=0, help="parallel decoding processes (0: the CPU count)"),
        limit: int = typer.Option(0, min=0, help="only the first N rows (0: all)"),
    ):
        """Preprocess MIMIC-CXR once (paper section 3.1) into OUT; use it as --dataset mimic-cxr:OUT."""
        from xgem_bench.data.mimic import MimicError, prepare_mimic

        if split_file is not None and split != "official":
            fail("--split-file replaces --split; give one of them")
        with user_errors(MimicError, OSError):
            manifest = prepare_mimic(source, out, split="file" if split_file else split,
                                     holdout_fraction=holdout_fraction, require_both=not allow_incomplete,
                                     workers=workers or None, limit=limit or None, progress=True, views=views,
                                     report_section=report_section, split_file=split_file, reports=reports,
                                     csv_dir=csv_dir, allow_jpg=allow_jpg)
        _print_summary(manifest)
        typer.echo(mimic_notes(manifest))

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


def mimic_notes(manifest: Path) -> str:
    """What a prepared MIMIC-CXR folder holds beside the paper's counts, and what its split can and cannot mean."""
    from xgem_bench.data.manifest import read_sidecar
    from xgem_bench.data.mimic import PAPER_COUNTS, SPLIT_NOTE

    meta = read_sidecar(manifest)
    counts = meta.get("counts", {})
    excluded = ", ".join(f"{view}={n}" for view, n in sorted(counts.get("excluded_views", {}).items()))
    lines = [f"views={meta.get('views')} report_section={meta.get('report_section')}: {counts.get('rows')} rows "
             f"({counts.get('rows_written')} written), "
             f"{counts.get('studies')} studies, {counts.get('images')} images (the paper: "
             f"{PAPER_COUNTS['images']} images from {PAPER_COUNTS['studies']} studies)",
             f"excluded views: {excluded or 'none'}",
             "left out: " + ", ".join(f"{k}={v}" for k, v in counts.items() if k.startswith(("studies_without",
                                                                                            "images_missing")))]
    lines += [f"warning: {w}" for w in meta.get("warnings", [])]
    lines.append(f"note: {SPLIT_NOTE}")
    return "\n".join(lines)
