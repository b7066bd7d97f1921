"""`xgem-bench utility anonymization|imbalance|scarcity|table`: the paper's §4.5 experiments (Tables 8-11, A4-A6)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

#: scaled-down settings that run on the demo on a CPU in minutes (each still overridable by its own option)
DEMO_PRESET = {"image_size": 32, "max_epochs": 6, "batch_size": 16, "patience": 2, "seeds": 3, "n_real": 60,
               "n_synthetic": "0,60,180", "resamples": 200}
PAPER_PRESET = {"image_size": 224, "max_epochs": 30, "batch_size": 32, "patience": 5, "seeds": 3, "n_real": 15000,
                "n_synthetic": "0,5000,15000,30000,60000", "resamples": 1000}

app = typer.Typer(no_args_is_help=True, help="Utility of synthetic data for training classifiers (paper §4.5): "
                                             "anonymization (Table 8/A4), imbalance (9-10/A5), scarcity (11/A6).")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="utility")


def _run(experiment: str, real: str, synthetic: str, view: str, classes: Optional[str], demo: bool,
         image_size: Optional[int], max_epochs: Optional[int], batch_size: Optional[int], lr: float,
         weight_decay: float, patience: Optional[int], init: str, threshold: float, seeds: Optional[int],
         n_real: Optional[int], n_synthetic: Optional[str], data_seed: int, resamples: Optional[int],
         setting: Optional[List[str]], out: Path, run_id: Optional[str], quiet: bool, with_paper: bool,
         threads: Optional[int]) -> None:
    # before torch loads: OpenMP's spinning worker threads made training ~20x slower on a shared CPU (measured on
    # 2 cores at load 8: 20 s vs 0.9 s per DenseNet step); a user's own setting wins
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from xgem_bench.commands._common import cli_settings, fail, user_errors
    from xgem_bench.utility.experiments import UtilityConfig, UtilityError, run_experiment
    from xgem_bench.utility.synthetic import SyntheticSourceError, source_name
    from xgem_bench.utility.tables import utility_table
    from xgem_bench.utility.train import TrainSettings
    from xgem_bench.weights import WeightsMismatch, WeightsMissing

    preset = DEMO_PRESET if demo else PAPER_PRESET
    pick = lambda value, key: preset[key] if value is None else value  # noqa: E731
    options = cli_settings(setting, None, "model")
    name = source_name(synthetic)
    unknown = set(options) - {name}
    if unknown:
        fail(f"settings given for {sorted(unknown)}, but the synthetic source is {name!r}")
    with user_errors(ValueError):
        sizes = tuple(int(n) for n in str(pick(n_synthetic, "n_synthetic")).split(",") if n.strip())
        settings = TrainSettings(image_size=pick(image_size, "image_size"), max_epochs=pick(max_epochs, "max_epochs"),
                                 batch_size=pick(batch_size, "batch_size"), lr=lr, weight_decay=weight_decay,
                                 patience=pick(patience, "patience"), init=init, threshold=threshold)
        config = UtilityConfig(experiment, real=real, synthetic=synthetic, view=view.upper(),
                               classes=tuple(c.strip() for c in classes.split(",")) if classes else None,
                               seeds=pick(seeds, "seeds"), train=settings, n_real=pick(n_real, "n_real"),
                               n_synthetic=sizes, data_seed=data_seed, model_settings=options.get(name, {}),
                               n_resamples=pick(resamples, "resamples"))
    if threads is not None:
        import torch
        torch.set_num_threads(threads)
    with user_errors(UtilityError, SyntheticSourceError, WeightsMissing, WeightsMismatch, FileNotFoundError):
        results = run_experiment(config, out=out, run_id=run_id, progress=not quiet)
    typer.echo(utility_table(results, "md", with_paper=with_paper))
    if experiment == "imbalance":
        typer.echo(utility_table(results, "md", with_paper=with_paper, table="9"))
    typer.echo(f"results: {results['run_dir']}")


def _command(experiment: str, doc: str):
    def command(
            real: str = typer.Option("demo", "--real", help="Real dataset: demo, manifest:PATH, mimic-cxr:DIR, ..."),
            synthetic: str = typer.Option("xgem", "--synthetic",
                                          help="Synthetic source: a model name (xgem, oracle, ...; generated through "
                                               "the runner and cached) or a predictions folder/CSV keyed by prompt id "
                                               "(<study_id>, repeats <study_id>~<k>)."),
            view: str = typer.Option("F", "--view", help="F (frontal: Tables 8-11) or L (lateral: A4-A6)."),
            classes: Optional[str] = typer.Option(None, help="Comma-separated pathologies (default: the paper's ten; "
                                                              "imbalance: Table 9's five, or `top5`)."),
            demo: bool = typer.Option(False, "--demo", help="Scaled-down defaults for the demo on a CPU: "
                                                            + ", ".join(f"{k}={v}" for k, v in DEMO_PRESET.items())),
            image_size: Optional[int] = typer.Option(None, help="Classifier input size (paper preset 224)."),
            max_epochs: Optional[int] = typer.Option(None, help="Most epochs (early stopping may end sooner)."),
            batch_size: Optional[int] = typer.Option(None, help="Global batch size (split across processes)."),
            lr: float = typer.Option(1e-4, help="Adam learning rate."),
            weight_decay: float = typer.Option(0.0, help="Adam weight decay."),
            patience: Optional[int] = typer.Option(None, help="Epochs without a lower validation loss before "
                                                               "stopping."),
            init: str = typer.Option("scratch", help="scratch (the paper) or imagenet (needs `xgem-bench weights "
                                                     "fetch torchvision-densenet121-imagenet`)."),
            threshold: float = typer.Option(0.5, help="Probability at which a class is called positive (F1)."),
            seeds: Optional[int] = typer.Option(None, help="Classifiers per arm (mean ± sd over seeds)."),
            n_real: Optional[int] = typer.Option(None, help="scarcity: real training studies (paper 15000)."),
            n_synthetic: Optional[str] = typer.Option(None, help="scarcity: synthetic sizes, comma-separated "
                                                                  "(paper 0,5000,15000,30000,60000)."),
            data_seed: int = typer.Option(0, help="Seed of the synthetic generation and the data subsets."),
            resamples: Optional[int] = typer.Option(None, help="Bootstrap resamples of the intervals."),
            setting: Optional[List[str]] = typer.Option(None, "--setting", "-s",
                                                        help="NAME.KEY=VALUE for the synthetic source (e.g. "
                                                             "xgem.steps=20)."),
            out: Path = typer.Option(Path("results"), "--out", help="Results root."),
            run_id: Optional[str] = typer.Option(None, help="Run id; the same id resumes an unfinished run."),
            quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress bars."),
            with_paper: bool = typer.Option(False, "--with-paper", help="Print the paper's values beside."),
            threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads of torch (default: torch's, "
                                                                           "one per core)."),
    ) -> None:
        _run(experiment, real, synthetic, view, classes, demo, image_size, max_epochs, batch_size, lr, weight_decay,
             patience, init, threshold, seeds, n_real, n_synthetic, data_seed, resamples, setting, out, run_id,
             quiet, with_paper, threads)
    command.__doc__ = doc
    return command


app.command("anonymization")(_command("anonymization", "Real-only vs synthetic-only classifiers (Table 8 / A4)."))
app.command("imbalance")(_command("imbalance", "Imbalanced real vs balanced with synthetic positives (Tables 9-10 / "
                                               "A5)."))
app.command("scarcity")(_command("scarcity", "N real + {0, ...} synthetic studies (Table 11 / A6)."))


@app.command("table")
def table(run: Path = typer.Argument(..., help="A utility run folder or run id."),
          which: Optional[str] = typer.Option(None, "--table", "-t", help="The run's table (default) or 9 "
                                                                          "(imbalance: positives per class)."),
          fmt: str = typer.Option("md", "--format", "-f", help="md, latex or csv."),
          with_paper: bool = typer.Option(False, "--with-paper", help="Add the paper's values as rows."),
          ci: bool = typer.Option(False, "--ci", help="Add the bootstrap intervals over test studies."),
          digits: int = typer.Option(2, help="Decimals shown."),
          root: Path = typer.Option(Path("results"), "--root", help="Folder where run ids are looked up.")) -> None:
    """Print a finished utility run's table in the paper's layout."""
    from xgem_bench.commands._common import user_errors
    from xgem_bench.utility.experiments import load_utility_run
    from xgem_bench.utility.tables import utility_table

    with user_errors(FileNotFoundError, ValueError):
        typer.echo(utility_table(load_utility_run(run, root), fmt, with_paper, digits, ci, which), nl=False)
