"""Training one classifier (one arm, one seed): Adam on the masked binary cross-entropy, early stopping on the real
validation split, a checkpoint after every epoch (resumed from when the run is started again), and the test-set
probabilities of the best epoch as the arm's result.

Identical hyper-parameters in every arm (`TrainSettings`, recorded with the results); for a given seed every arm starts
from the same initial weights and draws its batch order from the same stream, so arms differ only in their data.
Under torchrun / `accelerate launch` each process takes its share of every batch (DDP averages the gradients); the
validation and test passes run on the whole sets in every process, so all make the same early-stopping decision.
"""
from __future__ import annotations

import io
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from xgem_bench import distributed
from xgem_bench.atomic import atomic_write_bytes
from xgem_bench.progress import progress_bar
from xgem_bench.utility.classifier import build_classifier
from xgem_bench.utility.data import LabelledImages

STATE_FILE, BEST_FILE, PREDICTIONS_FILE = "state.pt", "best.pt", "test_predictions.npz"


@dataclass(frozen=True)
class TrainSettings:
    """Everything that changes a classifier; the same for every arm of an experiment."""

    image_size: int = 224
    max_epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.0
    #: epochs without a lower validation loss before training stops (the best epoch's weights are kept)
    patience: int = 5
    init: str = "scratch"
    #: probability at which a class is called positive for F1
    threshold: float = 0.5

    def __post_init__(self):
        for name in ("image_size", "max_epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.image_size < 32:
            raise ValueError("image_size must be at least 32 (DenseNet-121 downsamples 32x)")
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must lie in (0, 1), got {self.threshold}")

    def to_dict(self) -> dict:
        return asdict(self)


def masked_bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over the defined (non-NaN) labels; zero (with a graph) when none is defined."""
    defined = ~torch.isnan(labels)
    if not defined.any():
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits[defined], labels[defined])


def _batches(n: int, batch_size: int, seed: int, epoch: int, rank: int, world: int) -> list[np.ndarray]:
    """This process's share of each global batch of the epoch's shuffled order (a last batch too small to give
    every process a study is dropped, so all processes take the same number of steps)."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    batches = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    return [b[rank::world] for b in batches if len(b) >= world]


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor, device, batch_size: int = 64) -> np.ndarray:
    """Sigmoid probabilities (n, classes)."""
    model.eval()
    out = [torch.sigmoid(model(images[i:i + batch_size].to(device).float() / 255)).float().cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out).numpy().astype(np.float64) if out else np.zeros((0, 0))


@torch.no_grad()
def validation_loss(model: torch.nn.Module, data: LabelledImages, device, batch_size: int = 64) -> float:
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(data), batch_size):
        logits = model(data.images[i:i + batch_size].to(device).float() / 255)
        labels = torch.as_tensor(data.labels[i:i + batch_size], dtype=torch.float32, device=device)
        defined = ~torch.isnan(labels)
        if defined.any():
            total += float(F.binary_cross_entropy_with_logits(logits[defined], labels[defined], reduction="sum"))
            count += int(defined.sum())
    return total / count if count else float("nan")


def _save(path: Path, payload: dict) -> None:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def train_arm(train: LabelledImages, validate: LabelledImages, test: LabelledImages, settings: TrainSettings,
              seed: int, folder: Path, desc: str = "train", progress: bool = True) -> dict:
    """Train (or resume, or read back) one classifier; returns its test probabilities and training record."""
    from accelerate import Accelerator

    folder = Path(folder)
    done = folder / PREDICTIONS_FILE
    if done.exists():
        with np.load(done, allow_pickle=False) as data:
            return {"probabilities": data["probabilities"], "record": _read_record(data)}
    if len(train) == 0 or len(validate) == 0:
        raise ValueError(f"{desc}: empty training ({len(train)}) or validation ({len(validate)}) set")
    folder.mkdir(parents=True, exist_ok=True)
    accelerator = Accelerator(cpu=distributed.cpu_only())
    rank, world = accelerator.process_index, accelerator.num_processes
    torch.manual_seed(seed)  # the same initial weights in every arm for this seed
    model = build_classifier(train.labels.shape[1], settings.init)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=False) \
        if (folder / STATE_FILE).exists() else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    else:
        state = {"epoch": 0, "best_loss": float("inf"), "best_epoch": 0, "best_model": None, "history": [],
                 "stale": 0}
    model, optimizer = accelerator.prepare(model, optimizer)
    inner = accelerator.unwrap_model(model)
    device = accelerator.device
    bar = progress_bar(settings.max_epochs, desc, unit="epoch", enabled=progress and rank == 0)
    bar.update(state["epoch"])
    while state["epoch"] < settings.max_epochs and state["stale"] < settings.patience:
        epoch = state["epoch"]
        torch.manual_seed(seed * 100_003 + epoch)  # dropout-free net; keeps any stochastic layer reproducible
        model.train()
        started, seen, losses = time.perf_counter(), 0, []
        for part in _batches(len(train), settings.batch_size, seed, epoch, rank, world):
            images = train.images[torch.as_tensor(part)].to(device).float() / 255
            labels = torch.as_tensor(train.labels[part], dtype=torch.float32, device=device)
            loss = masked_bce(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            optimizer.step()
            losses.append(float(loss.detach()))
            seen += len(part) * world
        seconds = time.perf_counter() - started
        val = validation_loss(inner, validate, device)
        improved = val < state["best_loss"]
        if improved:
            state.update(best_loss=val, best_epoch=epoch + 1,
                         best_model={k: v.detach().cpu().clone() for k, v in inner.state_dict().items()})
        state["stale"] = 0 if improved else state["stale"] + 1
        state["history"].append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else float("nan"),
                                 "val_loss": val, "seconds": round(seconds, 3),
                                 "images_per_s": round(seen / seconds, 2) if seconds > 0 else None})
        state["epoch"] = epoch + 1
        if rank == 0:  # a killed run resumes from the last finished epoch
            _save(folder / STATE_FILE, {**state, "model": inner.state_dict(), "optimizer": optimizer.state_dict()})
        distributed.barrier()
        bar.update(1)
    bar.close()
    inner.load_state_dict(state["best_model"])
    probabilities = predict(inner, test.images, device)
    record = {"epochs": state["epoch"], "best_epoch": state["best_epoch"], "best_val_loss": state["best_loss"],
              "stopped_early": state["epoch"] < settings.max_epochs, "history": state["history"],
              "n_train": len(train), "world_size": world}
    if rank == 0:
        buffer = io.BytesIO()
        np.savez(buffer, probabilities=probabilities, record=np.array(json.dumps(record)))
        _save(folder / BEST_FILE, state["best_model"])  # the classifier itself, for later use
        atomic_write_bytes(done, buffer.getvalue())  # last: its presence means the arm is finished
        (folder / STATE_FILE).unlink(missing_ok=True)
    distributed.barrier()
    return {"probabilities": probabilities, "record": record}


def _read_record(data) -> dict:
    return json.loads(str(data["record"]))
