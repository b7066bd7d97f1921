"""`xgem-bench train STAGE --config tiny|paper`: train the reference XGeM stage by stage (or `all`).

N processes: `torchrun --nproc_per_node N -m xgem_bench.cli train ...` or
`accelerate launch --multi_gpu --num_processes N -m xgem_bench.cli train ...` (reference_model/README.md).
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

STAGE_HELP = ("clip | image-vae | text-vae | ldm | align | all "
              "(all = every stage not yet trained in the checkpoint folder, in order)")


def register(app: typer.Typer) -> None:
    app.command("train")(train)


def train(
    stage: str = typer.Argument(..., help=STAGE_HELP),
    config: str = typer.Option("tiny", "--config", help="tiny (CPU, demo data) or paper (full size)."),
    dataset: str = typer.Option("demo", "--dataset", help="Dataset spec, as for `xgem-bench run`."),
    split: str = typer.Option("train", "--split", help="Split to train on ('all' = every study)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint",
                                              help="Checkpoint folder (default: <cache>/reference/<config>)."),
    modality: Optional[str] = typer.Option(None, "--modality", help="ldm: F, L or T (default: all three)."),
    multi_prompt: bool = typer.Option(True, "--multi-prompt/--no-multi-prompt",
                                      help="ldm: Multi-Prompt Training; off trains the CoDi-XR ablation."),
    variant: str = typer.Option("xgem", "--variant",
                                help="align / all: xgem, codi-xr or both (which LDMs to train / align)."),
    weighting: str = typer.Option("uniform", "--weighting", help="ldm: prompt interpolation weights, "
                                                                 "uniform or dirichlet."),
    connector_context: Optional[str] = typer.Option(None, "--connector-context",
                                                    help="align: self (public code) or others (paper Eq. 4)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Override the configuration's epochs."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Override the global batch size."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Override the learning rate."),
    seed: int = typer.Option(11, "--seed", help="Training seed (the public code uses 11)."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue an interrupted stage."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Retrain a stage that is already trained."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    threads: Optional[int] = typer.Option(None, "--threads",
                                          help="CPU threads for torch (default: 1 for tiny, whose small ops only "
                                               "slow down with more threads on a shared CPU; torch's default for "
                                               "paper)."),
) -> None:
    """Train one stage of the reference XGeM; the result goes into the checkpoint folder with its config."""
    from xgem_bench.commands._common import user_errors
    from xgem_bench.data import load_dataset
    from xgem_bench.reference_model import model as xm
    from xgem_bench.reference_model import training as tr
    from xgem_bench.tasks import parse_modality

    import torch

    if threads or config == "tiny":
        torch.set_num_threads(threads or 1)
    tr.init_processes()
    echo = tr.on_main(typer.echo)  # launched with N processes, rank 0 speaks for all
    root = checkpoint or xm.default_checkpoint(config)

    def adjust(cfg) -> None:
        for hyper in cfg.hyper.values():
            hyper.epochs = hyper.epochs if epochs is None else epochs
            hyper.batch_size = batch_size or hyper.batch_size
            hyper.lr = lr or hyper.lr
        if connector_context:
            cfg.align.connector_context = connector_context

    common = dict(split=split, progress=progress, seed=seed, resume=resume)
    errors = (ValueError, KeyError, FileNotFoundError, tr.StageExists)
    with user_errors(*errors), _printed_once(*errors):
        stages = (*tr.STAGES, "all")
        if stage not in stages:
            raise ValueError(f"unknown stage {stage!r}; use one of {', '.join(stages)}")
        variants = tuple(xm.VARIANTS) if variant == "both" else (variant,)
        if not set(variants) <= set(xm.VARIANTS):
            raise ValueError(f"unknown variant {variant!r}; use one of {', '.join(xm.VARIANTS)} (or both, with `all`)")
        data = load_dataset(dataset)
        if stage == "all":
            timings = tr.train_all(root, config, data, variants, log=echo, adjust=adjust, **common)
            echo(f"checkpoint {root}: " + (", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
                                           or "every stage was already trained"))
        else:
            cfg = tr.prepare_checkpoint(root, config, data, split)
            adjust(cfg)
            if stage == "ldm":
                for m in [parse_modality(modality).field] if modality else ["frontal", "lateral", "report"]:
                    out = tr.train_ldm(root, cfg, data, m, multi_prompt=multi_prompt, weighting=weighting,
                                       overwrite=overwrite, **common)
                    echo(f"trained ldm {xm.CODES[m]} ({xm.variant_of(multi_prompt)}): {out}")
            elif stage == "align":
                for v in variants:
                    tr.train_align(root, cfg, data, variant=v, overwrite=overwrite, **common)
                    echo(f"trained align ({v}) in {root}")
            else:
                fn = {"clip": tr.train_clip, "image-vae": tr.train_image_vae, "text-vae": tr.train_text_vae}[stage]
                echo(f"trained {stage}: {fn(root, cfg, data, overwrite=overwrite, **common)}")
    tr.shutdown()


@contextmanager
def _printed_once(*types: type[BaseException]):
    """Launched with N processes, an error from bad input (the same on every rank) is printed by rank 0 alone; the
    other ranks exit with the same code, printing theirs only when rank 0 met none (see reports_error)."""
    from xgem_bench.reference_model.training import reports_error
    try:
        yield
    except types:
        if not reports_error():
            raise typer.Exit(2)
        raise
