"""Latent coherence of a joint output (paper Table 7): cosine similarity, in XGeM's shared prompt-encoder space, between
the two modalities generated together for one study.

cos(P_i(M_i), P_j(M_j)) with P the XGeM prompt encoders (the CLIP vision tower for F and L, the text tower for T;
pooled, projected, L2-normalised), exactly as the reference model conditions on them. Every model's outputs are
embedded with the same encoder, so joint generation, independent generation (a model row whose joint outputs come from
two single-output calls with the same inputs and seeds) and competitors are comparable. The same statistic on the real
study's own modalities (`cosine_real`) is the reference level.

The encoder is a setting: `encoder` names an XGeM configuration whose checkpoint sits where `xgem-bench train` puts
it (`tiny`, the default, trained on the demo data; `paper`, the full-size model), is `demo` (the bundled `tiny128`
demo checkpoint, once imported: `make demo` uses it) or is a checkpoint folder (`xgem_config.json`, `clip/`, the
tokenizer). The resolved folder and a fingerprint of its CLIP stage go on record:
numbers made with different encoders are not comparable. Without a trained CLIP stage the metric is unavailable
(never random weights); the reason names the command that trains one.
"""
from __future__ import annotations

import hashlib
from itertools import combinations
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from xgem_bench.metrics.base import Metric, MetricContext, Sample
from xgem_bench.tasks import Modality


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (n, d) arrays (rows need not be normalised)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    if np.any(norms == 0):
        raise ValueError("cosine similarity of a zero vector is undefined")
    return np.einsum("nd,nd->n", a, b) / norms


def encoder_root(encoder: str) -> Path:
    """A configuration name (`tiny`, `paper`: the folder `xgem-bench train` uses), `demo` (the bundled checkpoint in
    the weights store) or a checkpoint folder."""
    from xgem_bench.reference_model import demo_checkpoint
    from xgem_bench.reference_model.config import PRESETS
    from xgem_bench.reference_model.layout import default_checkpoint
    if encoder == demo_checkpoint.SETTING:
        return demo_checkpoint.installed_path()
    return default_checkpoint(encoder) if encoder in PRESETS else Path(encoder).expanduser()


def encoder_problem(encoder: str) -> str | None:
    """None when `encoder` resolves to a trained XGeM prompt encoder, else why not and the fix (file checks only)."""
    from xgem_bench.reference_model import demo_checkpoint
    from xgem_bench.reference_model.config import PRESETS
    from xgem_bench.reference_model.layout import component_dir, is_trained
    root = encoder_root(encoder)
    if (root / "xgem_config.json").is_file() and is_trained(component_dir(root, "clip")):
        return None
    if encoder == demo_checkpoint.SETTING:
        return demo_checkpoint.missing_reason()
    config = encoder if encoder in PRESETS else "tiny|paper"
    return (f"no trained XGeM prompt encoder at {root} (needs xgem_config.json and a trained clip/ stage); run "
            f"`xgem-bench train clip --config {config} --checkpoint {root}`, or set coherence-cosine.encoder to "
            "another configuration (tiny, paper), demo or a checkpoint folder")


def encoder_fingerprint(root: Path) -> str:
    """sha256 over the CLIP stage's config, training record and weight file sizes: cheap, changes when it is retrained."""
    clip = Path(root) / "clip"
    digest = hashlib.sha256()
    for file in sorted(p for p in clip.iterdir() if p.is_file()):
        digest.update(file.name.encode() + b"\0")
        digest.update(file.read_bytes() if file.suffix == ".json" else str(file.stat().st_size).encode())
    return digest.hexdigest()[:16]


class CosineCoherence(Metric):
    name = "coherence-cosine"
    kind = "joint"
    primary = "cosine"

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        return {"encoder": "tiny", "real_pairs": True}

    @classmethod
    def unavailable_reason(cls, settings: dict[str, Any] | None = None) -> str | None:
        return encoder_problem(str({**cls.default_settings(), **(settings or {})}["encoder"]))

    def __init__(self, context: MetricContext, **settings: Any):
        super().__init__(context, **settings)
        problem = encoder_problem(str(self.settings["encoder"]))
        if problem:
            raise FileNotFoundError(problem)
        root = encoder_root(str(self.settings["encoder"]))
        self.settings.update(encoder_checkpoint=str(root.resolve()), encoder_fingerprint=encoder_fingerprint(root))
        self.pairs = list(combinations(context.task.outputs, 2))
        self.encoder = self._load(root, context.device)
        self.add_state("generated_total", 0.0, "sum")
        self.add_state("real_total", 0.0, "sum")
        self.add_state("count", 0, "sum")

    @staticmethod
    def _load(root: Path, device: str):
        from transformers import CLIPModel

        from xgem_bench.reference_model.model import load_config
        from xgem_bench.reference_model.prompt_encoder import PromptEncoder
        from xgem_bench.reference_model.tokenizer import load_tokenizers
        tokenizers = load_tokenizers(load_config(root), root)
        return PromptEncoder(CLIPModel.from_pretrained(root / "clip"), tokenizers.clip).to(device).eval()

    def embed(self, modality: Modality, items: list) -> np.ndarray:
        import torch
        with torch.inference_mode():
            if modality.is_image:
                out = self.encoder.encode_images(torch.from_numpy(np.stack(items).astype(np.float32)))
            else:
                out = self.encoder.encode_texts([text or "" for text in items])
        return out.float().cpu().numpy()

    def _pair_cosines(self, outputs: dict[Modality, list]) -> np.ndarray:
        """(n,) mean over output pairs of the per-study cosine."""
        embedded = {m: self.embed(m, items) for m, items in outputs.items()}
        return np.mean([cosine_rows(embedded[a], embedded[b]) for a, b in self.pairs], axis=0)

    def update(self, samples: Sequence[Sample]) -> None:
        size = max(1, int(self.context.batch_size))
        outputs = self.context.task.outputs
        for start in range(0, len(samples), size):
            batch = samples[start:start + size]
            generated = self._pair_cosines({m: [s.generated[m] for s in batch] for m in outputs})
            real = (self._pair_cosines({m: [s.study.get(m) for s in batch] for m in outputs})
                    if self.settings["real_pairs"] else np.full(len(batch), np.nan))
            for sample, g, r in zip(batch, generated, real):
                values = {"cosine": float(g)} | ({"cosine_real": float(r)} if self.settings["real_pairs"] else {})
                self.record(sample.study.study_id, **values)
            self.generated_total += float(generated.sum())
            self.real_total += float(np.nansum(real))
            self.count += len(batch)

    def compute(self) -> dict[str, float]:
        if not self.count:
            raise ValueError("coherence-cosine: no study was scored")
        values = {"cosine": self.generated_total / self.count, "n": float(self.count)}
        if self.settings["real_pairs"]:
            values["cosine_real"] = self.real_total / self.count
        return values
