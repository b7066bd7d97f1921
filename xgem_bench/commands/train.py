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
    config: str = typer.Option("tiny", "--config", help="tiny (CPU, demo data), tiny128 (tiny with a 128 px image "
                                                        "VAE) or paper (full size)."),
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
    mixed_precision: str = typer.Option("no", "--mixed-precision",
                                        help="no | bf16 | fp16: autocast (fp16 with loss scaling), via accelerate."),
    grad_accum: int = typer.Option(1, "--grad-accum", help="Micro-batches per optimizer step: each GPU takes "
                                                            "batch / (GPUs x K) studies at a time."),
    gradient_checkpointing: bool = typer.Option(False, "--gradient-checkpointing",
                                                help="Recompute activations in the backward pass (UNets, CLIP, "
                                                     "BERT, report UNet; not Optimus' GPT-2, whose latent memory "
                                                     "checkpointing would drop)."),
    workers: int = typer.Option(0, "--workers", help="DataLoader worker processes decoding studies."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the per-stage plan (per-GPU batch, "
                                                          "accumulation, estimated memory) and refuse one that "
                                                          "cannot fit; trains nothing. `paper` only."),
    gpus: Optional[int] = typer.Option(None, "--gpus", help="--dry-run: GPUs to plan for (default: this launch's "
                                                            "processes, else the visible GPUs, else 1)."),
    gpu_memory: Optional[float] = typer.Option(None, "--gpu-memory", help="--dry-run: GB per GPU (default: the "
                                                                          "visible GPU's, else 80)."),
    init: str = typer.Option("random", "--init", help="random | codi: start every stage trained now from CoDi's "
                                                      "released weights, as the public XGeM code does "
                                                      "(`--config paper`; reference_model/README.md)."),
    codi_checkpoint: Optional[Path] = typer.Option(None, "--codi-checkpoint",
                                                   help="--init codi: a folder holding CoDi's three released files "
                                                        "(default: the weights manager's copies)."),
    threads: Optional[int] = typer.Option(None, "--threads",
                                          help="CPU threads for torch (default: 1 for tiny, whose small ops only "
                                               "slow down with more threads on a shared CPU; torch's default for "
                                               "paper)."),
) -> None:
    """Train one stage of the reference XGeM; the result goes into the checkpoint folder with its config."""
    from xgem_bench.commands._common import user_errors
    from xgem_bench.data import load_dataset
    from xgem_bench.distributed import init_accelerate, on_main, shutdown
    from xgem_bench.reference_model import model as xm
    from xgem_bench.reference_model import training as tr
    from xgem_bench.reference_model.codi_init import Init
    from xgem_bench.reference_model.fit import RunOptions
    from xgem_bench.reference_model.stage_training import StageExists
    from xgem_bench.tasks import parse_modality

    import torch

    with user_errors(ValueError):
        run_options = RunOptions(mixed_precision, grad_accum, gradient_checkpointing, workers)
        start = Init(init, codi_checkpoint)
    if dry_run:
        with user_errors(ValueError):
            _dry_run(config, run_options, gpus, gpu_memory, batch_size)
        return
    if threads or config.startswith("tiny"):
        torch.set_num_threads(threads or 1)
    init_accelerate()

    def adjust(cfg) -> None:
        for hyper in cfg.hyper.values():
            hyper.epochs = hyper.epochs if epochs is None else epochs
            hyper.batch_size = batch_size or hyper.batch_size
            hyper.lr = lr or hyper.lr
        if connector_context:
            cfg.align.connector_context = connector_context

    errors = (ValueError, KeyError, FileNotFoundError, StageExists)
    with user_errors(*errors), _printed_once(*errors):
        variants = tuple(xm.VARIANTS) if variant == "both" else (variant,)
        tr.check_stage(stage, variants)
        modalities = [parse_modality(modality).field] if modality else None
        tr.train_stage(stage, checkpoint or xm.default_checkpoint(config), config, load_dataset(dataset), modalities,
                       multi_prompt=multi_prompt, weighting=weighting, variants=variants, overwrite=overwrite,
                       split=split, log=on_main(typer.echo),  # launched with N processes, rank 0 speaks for all
                       adjust=adjust, progress=progress, seed=seed, resume=resume, run=run_options, init=start)
    shutdown()


def _dry_run(config: str, run, gpus: int | None, gpu_memory: float | None, batch_size: int | None) -> None:
    import os

    import torch

    from xgem_bench.reference_model import plan as planner
    from xgem_bench.reference_model.config import get_config

    if config != "paper":
        raise ValueError("--dry-run plans the paper configuration (its activation memory is measured at that size); "
                         "use --config paper")
    cfg = get_config(config)
    for hyper in cfg.hyper.values():
        hyper.batch_size = batch_size or hyper.batch_size
    visible = torch.cuda.device_count()
    gpus = gpus or int(os.environ.get("WORLD_SIZE", 0)) or visible or 1
    if gpu_memory is None:
        gpu_memory = torch.cuda.get_device_properties(0).total_memory / planner.GB if visible else 80.0
    plans = planner.plan_stages(cfg, gpus, int(gpu_memory * planner.GB), run)
    typer.echo(f"plan: {gpus} GPU(s) of {gpu_memory:.0f} GB, mixed precision {run.mixed_precision}, "
               f"gradient checkpointing {'on' if run.gradient_checkpointing else 'off'}, grad-accum {run.grad_accum}")
    typer.echo(planner.render(plans))
    reason = planner.refusal(plans, run)
    if reason:
        raise ValueError(f"this plan cannot fit:\n{reason}")
    typer.echo("every stage fits")


@contextmanager
def _printed_once(*types: type[BaseException]):
    """Launched with N processes, an error from bad input (the same on every rank) is printed by rank 0 alone; the
    other ranks exit with the same code, printing theirs only when rank 0 met none (see reports_error)."""
    from xgem_bench.distributed import reports_error
    try:
        yield
    except types:
        if not reports_error():
            raise typer.Exit(2)
        raise
