"""The demo backbone: a DenseNet-121 trained on the demo's phantoms, standing in for the XRV classifier on the demo.

No XRV weights exist offline, so FID-XRV, XRV classification (Table 3) and Hamming (Figure 5) could not run on the
demo. This backbone gives them something honest to run on: a torchvision DenseNet-121 (random init, one input channel
like XRV's) trained on the frontal phantoms of the demo's **training split** to predict the study's label vector over
the ten paper pathologies (a finding is drawn exactly where its label is 1, see synthetic/demo.py `findings_for`),
behind the XRV backbone's interface (`XRVBackbone`, `variant=demo`): same centre crop, resize, [-1024, 1024] scaling,
1024-d `features2` for FID, sigmoid + `op_norm` with per-label operating thresholds, outputs named as torchxrayvision
names them (so `xrv_output_indices` maps labels by name as for XRV). It is **shown everywhere as
"demo backbone (synthetic, not XRV)"**: its numbers check the pipeline on phantoms and mean nothing for real X-rays.

Differences from XRV, all in `RECIPE` (whose hash names the weight file, so a changed recipe is a new file that must
be built): input side `RECIPE["size"]` (not 224: training must fit in about 2 minutes on 2 CPU cores); training
phantoms from a separately seeded demo (`RECIPE["demo"]`, never the evaluated `demo` of seed 0, so no phantom subject
the metrics score was seen, and 3x as many training images as the demo's own training split holds); operating
thresholds chosen per label by maximal F1 on that training demo's held-out splits (`RECIPE["threshold_splits"]`, 364
studies; 0.5 where a label lacks positives or negatives there), which balances recall and precision. The build is
deterministic (fixed torch threads, deterministic algorithms, seeded order and augmentation, no timings in the file),
so a file rebuilt on the same machine has the same bytes and passes the checksum the weights manager recorded
there; another CPU gives other floats (real test frontals scored macro-AUC 0.949 on one machine, 0.962 on another).

Built offline by `xgem-bench weights import xrv-densenet121-res224-demo --from-package xgem-bench` (the weights
manager installs it atomically under the xgem-bench cache and records its checksum); `scripts/demo.sh` does it once.
Python entry point: `demo_backbone()` returns the ready `XRVBackbone`-compatible object (`classify`, `features`,
`pathologies`), building it first when absent.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from xgem_bench.data.study import PAPER_PATHOLOGIES
from xgem_bench.metrics.backbones import XRV_NAME, XRVBackbone

logger = logging.getLogger(__name__)

DEMO_BACKBONE_LABEL = "demo backbone (synthetic, not XRV)"
WEIGHT_NAME = "xrv-densenet121-res224-demo"
#: everything that changes the trained weights; its hash is part of the file name
RECIPE: dict[str, Any] = {
    "version": 2, "architecture": "torchvision densenet121, 1 input channel, random init", "demo": "seed=1000,n=900",
    "split": "train", "view": "frontal", "size": 48, "epochs": 6, "batch": 16, "lr": 2e-3, "weight_decay": 1e-4,
    "shift_px": 3, "seed": 0, "threads": 1, "threshold_splits": ["validate", "test"],
    "thresholds": "max-F1 per label on threshold_splits",
}
THRESHOLD_RULE = "max-f1-held-out"


def recipe_key(recipe: dict[str, Any] = RECIPE) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def weight_filename(recipe: dict[str, Any] = RECIPE) -> str:
    return f"demo-densenet121-{recipe_key(recipe)}.pt"


def xrv_names(labels: Sequence[str] = PAPER_PATHOLOGIES) -> list[str]:
    """The outputs, named as torchxrayvision names them."""
    return [XRV_NAME[label] for label in labels]


def _densenet(n_outputs: int):
    import torch
    import torchvision
    net = torchvision.models.densenet121(weights=None, num_classes=n_outputs)
    net.features.conv0 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)  # grey, as XRV
    return net


def make_network(pathologies: Sequence[str], op_threshs: Sequence[float]):
    """The module `XRVBackbone` drives: `.features` (maps before the final ReLU), `.classifier`, `.pathologies`,
    `.op_threshs`, as in torchxrayvision's DenseNet."""
    import torch

    class DemoDenseNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            net = _densenet(len(pathologies))
            self.features, self.classifier = net.features, net.classifier
            self.pathologies = list(pathologies)
            self.register_buffer("op_threshs", torch.tensor(list(op_threshs), dtype=torch.float32))

        def forward(self, x):  # logits, for training
            maps = torch.nn.functional.relu(self.features(x))
            return self.classifier(torch.nn.functional.adaptive_avg_pool2d(maps, 1).flatten(1))

    return DemoDenseNet()


class DemoBackbone(XRVBackbone):
    """`XRVBackbone` with `variant=demo`: the demo-trained network, at RECIPE's input size."""

    size = RECIPE["size"]
    label = DEMO_BACKBONE_LABEL

    def __init__(self, device: str | None = "cpu", channels_last: bool = True, **settings: Any):
        super().__init__(device, channels_last, **{**settings, "variant": "demo"})
        self.name = "xrv-demo"

    @property
    def signature(self) -> str:
        # the operating-threshold rule is on record beside the recipe hash (it changes F1 and Hamming, not AUC or FID)
        return f"{super().signature}|recipe:{recipe_key()}|size:{self.size}|thresholds:{THRESHOLD_RULE}"

    def _load(self, path):
        import torch
        saved = torch.load(path, map_location="cpu", weights_only=False)
        if saved.get("recipe_key") != recipe_key():
            raise ValueError(f"{path} was built with another demo-backbone recipe; rebuild it with "
                             f"`xgem-bench weights import {WEIGHT_NAME} --from-package xgem-bench`")
        net = make_network(saved["pathologies"], saved["op_threshs"])
        net.load_state_dict(saved["state_dict"])
        return net


def demo_backbone(device: str | None = "cpu", build: bool = True, **settings: Any) -> DemoBackbone:
    """The demo backbone, ready to `classify` / `features` (built first if absent and `build`)."""
    from xgem_bench import weights
    if build and weights.missing_reason(WEIGHT_NAME):
        weights.import_from_package(WEIGHT_NAME, "xgem-bench")
    return DemoBackbone(device=device, **settings)


# ---- building -----------------------------------------------------------------------------------------------------
def _targets(study) -> np.ndarray:
    """The phantom label vector over the ten pathologies: 1 exactly where the label is 1 (what is drawn)."""
    return np.array([float(study.labels.get(label) == 1) for label in PAPER_PATHOLOGIES], np.float32)


def _inputs(backbone: DemoBackbone, dataset, indices) -> tuple[Any, np.ndarray]:
    """Network inputs (the backbone's own crop, resize and scaling) and targets of the frontal images at `indices`."""
    import torch
    images, targets = [], []
    for i in indices:
        study = dataset.load(int(i))
        images.append(study.frontal)
        targets.append(_targets(study))
    with torch.inference_mode():
        x = backbone._scale(backbone._resize(backbone.prepare(images)))
    return x.clone(), np.stack(targets)


def _shifted(x, shift: int, generator):
    """Each image moved by up to `shift` pixels (edge-padded): the phantoms' anatomy varies, but not their position."""
    import torch
    if shift == 0:
        return x
    padded = torch.nn.functional.pad(x, (shift,) * 4, mode="replicate")
    out = torch.empty_like(x)
    offsets = torch.randint(0, 2 * shift + 1, (len(x), 2), generator=generator)
    h, w = x.shape[-2:]
    for k, (dy, dx) in enumerate(offsets.tolist()):
        out[k] = padded[k, :, dy:dy + h, dx:dx + w]
    return out


def max_f1_thresholds(truth: np.ndarray, probs: np.ndarray) -> list[float]:
    """Per label, the probability threshold (predict positive at >= it) with the largest F1; 0.5 where a label lacks
    positives or negatives. Maximal F1 trades recall against precision, where Youden's J on few positives favoured
    specificity and left the demo backbone with low recall (Hamming could not see swapped findings)."""
    from sklearn.metrics import precision_recall_curve
    out = []
    for k in range(truth.shape[1]):
        if 0 < truth[:, k].sum() < len(truth):
            precision, recall, thresholds = precision_recall_curve(truth[:, k], probs[:, k])
            f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
            out.append(float(np.clip(thresholds[int(np.argmax(f1))], 1e-4, 1 - 1e-4)))
        else:
            out.append(0.5)
    return out


@contextmanager
def deterministic_torch(threads: int):
    """Fixed intra-op threads and deterministic kernels for the duration (restored after): CPU reductions split
    over another thread count sum in another order, so the same recipe gave other bits on another machine load."""
    import torch
    threads_before, deterministic_before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads_before)
        torch.use_deterministic_algorithms(deterministic_before)


def train_demo_backbone(recipe: dict[str, Any] = RECIPE, progress: bool = True) -> dict[str, Any]:
    """Train per `recipe`; returns what the weight file holds (state dict, pathologies, thresholds, sizes)."""
    with deterministic_torch(recipe["threads"]):
        return _train(recipe, progress)


def _train(recipe: dict[str, Any], progress: bool) -> dict[str, Any]:
    import torch
    from tqdm import tqdm

    from xgem_bench.synthetic.demo import load_demo

    torch.manual_seed(recipe["seed"])
    generator = torch.Generator().manual_seed(recipe["seed"])
    dataset = load_demo(recipe["demo"])
    pipeline = DemoBackbone(channels_last=False)  # its preprocessing only, at the recipe's size
    pipeline.size = recipe["size"]
    x_train, y_train = _inputs(pipeline, dataset, dataset.indices(recipe["split"]))
    held_out = np.concatenate([dataset.indices(split) for split in recipe["threshold_splits"]])
    x_val, y_val = _inputs(pipeline, dataset, held_out)
    net = make_network(xrv_names(), [0.5] * len(PAPER_PATHOLOGIES))
    steps_per_epoch = int(np.ceil(len(x_train) / recipe["batch"]))
    optimiser = torch.optim.AdamW(net.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=recipe["lr"],
                                                   total_steps=recipe["epochs"] * steps_per_epoch)
    targets = torch.from_numpy(y_train)
    bar = tqdm(total=recipe["epochs"] * steps_per_epoch, desc="training the demo backbone", unit="step",
               disable=not progress)
    for _ in range(recipe["epochs"]):
        net.train()
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(order), recipe["batch"]):
            batch = order[start:start + recipe["batch"]]
            if len(batch) < 2:  # batch norm needs two
                continue
            logits = net(_shifted(x_train[batch], recipe["shift_px"], generator))
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    bar.close()
    net.eval()
    with torch.inference_mode():
        val_probs = torch.sigmoid(net(x_val)).numpy()
    return {"state_dict": net.state_dict(), "pathologies": xrv_names(),
            "op_threshs": max_f1_thresholds(y_val, val_probs), "recipe": recipe, "recipe_key": recipe_key(recipe),
            "label": DEMO_BACKBONE_LABEL, "n_train": len(x_train), "n_validate": len(x_val)}


def build_weight(target: Path, recipe: dict[str, Any] = RECIPE) -> None:
    """The weights manager's converter (`weights import xrv-densenet121-res224-demo --from-package xgem-bench`).
    Saved through a buffer: torch.save names the archive inside the file after the path, so two builds written
    to different paths would differ in bytes."""
    import torch
    started, cpu_started = time.perf_counter(), time.process_time()
    buffer = io.BytesIO()
    torch.save(train_demo_backbone(recipe, progress=recipe is RECIPE), buffer)
    Path(target).write_bytes(buffer.getvalue())
    logger.info("demo backbone built in %.0f s (%.0f s CPU)", time.perf_counter() - started,
                time.process_time() - cpu_started)


def build_info(path: Path) -> dict[str, Any]:
    """What a built weight file says about itself (recipe, thresholds, timings), without the tensors."""
    import torch
    saved = torch.load(path, map_location="cpu", weights_only=False)
    return {k: v for k, v in saved.items() if k != "state_dict"}


# ---- where it may be used -----------------------------------------------------------------------------------------
def is_demo_dataset(dataset) -> bool:
    from xgem_bench.synthetic.demo import DEMO_NAME
    return dataset is not None and bool(getattr(dataset, "synthetic", False)) and dataset.name == DEMO_NAME


def xrv_settings_for(dataset, metric_cls, settings: dict[str, Any], allow_demo_backbone: bool = False) -> dict:
    """A metric's settings for `dataset`: on the demo, the XRV metrics (default variant `all`) use the demo backbone
    unless `variant` is set; on other data `variant=demo` is refused unless `allow_demo_backbone`."""
    if metric_cls.default_settings().get("variant") != "all":
        return settings
    if is_demo_dataset(dataset):
        return {"variant": "demo", **settings}
    if settings.get("variant") == "demo" and not allow_demo_backbone:
        raise ValueError(f"{metric_cls.name}: variant=demo is the {DEMO_BACKBONE_LABEL}, trained on demo phantoms; "
                         f"its numbers mean nothing on {getattr(dataset, 'name', 'this dataset')!r}. Use the real "
                         "XRV model (variant=all; `xgem-bench weights fetch xrv-densenet121-res224-all`), or pass "
                         "--allow-demo-backbone to use it anyway")
    return settings
