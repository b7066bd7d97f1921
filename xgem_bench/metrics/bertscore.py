"""BERTScore (Zhang et al. 2020) of generated reports against the real report, as bert-score 0.3.13 computes it.

Per pair: both texts go through the encoder's tokenizer (RoBERTa's byte-level BPE with a prefix space, truncated to
the model's maximum; an empty text is just the special tokens), the hidden states of layer ``num_layers`` are
L2-normalised, and every token is greedily matched to its most similar token on the other side. Precision averages
the candidate tokens' best similarities, recall the reference tokens'; special tokens take part in the matching but
weigh 0 (no idf: every other token weighs 1, bert-score's `idf=False`); F = 2PR/(P+R). A pair with an empty side
scores raw 0 (bert-score's rule). With ``rescale_with_baseline`` each of P, R, F becomes (x - b) / (1 - b) with the
baseline b of bert-score's `rescale_baseline/en/<model>.tsv` at that layer, so an empty pair scores about -5.55.

Defaults are ReXrank's and CXR-Report-Metric's (``model=distilroberta-base``, layer 5, rescaled, no idf). Per study
``bertscore`` (= F), ``bertscore_precision`` and ``bertscore_recall`` are recorded; the metric is their mean.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from xgem_bench.metrics.base import Metric, MetricUnavailable, Sample

#: catalog weight of each supported encoder, its default layer (bert-score `model2layers`) and its English
#: baseline per layer (P, R, F): bert-score 0.3.13 `rescale_baseline/en/<model>.tsv`
MODELS = {
    "distilroberta-base": {
        "weight": "distilroberta-base", "layer": 5,
        "baseline": ((0.42608285, 0.4272089, 0.42462298), (0.7367886, 0.7370362, 0.736573),
                     (0.79922664, 0.799593, 0.7991632), (0.8329021, 0.8333321, 0.83291864),
                     (0.8442, 0.84462386, 0.84425896), (0.84732, 0.84759504, 0.8473319),
                     (0.89334005, 0.8935088, 0.8933471)),
    },
}


@lru_cache(maxsize=2)
def _encoder(folder: str, sha256: str, num_layers: int, device: str):
    from transformers import AutoModel, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(folder, use_fast=False)  # bert-score's default: the slow tokenizer
    model = AutoModel.from_pretrained(folder)
    if not 0 <= num_layers <= len(model.encoder.layer):
        raise ValueError(f"num_layers must lie in 0..{len(model.encoder.layer)} for {folder}, got {num_layers}")
    model.encoder.layer = model.encoder.layer[:num_layers]  # the states of layer `num_layers` are then the last
    return tokenizer, model.to(device).eval()


def _encode(tokenizer, text: str) -> list[int]:
    from transformers import GPT2Tokenizer, RobertaTokenizer
    text = (text or "").strip()
    if not text:
        return tokenizer.build_inputs_with_special_tokens([])
    prefix = {"add_prefix_space": True} if isinstance(tokenizer, (GPT2Tokenizer, RobertaTokenizer)) else {}
    return tokenizer.encode(text, add_special_tokens=True, max_length=tokenizer.model_max_length, truncation=True,
                            **prefix)


def _embed(tokenizer, model, texts: Sequence[str], device: str):
    """Per text: (normalised token states (k, d), token weights (k,): 0 for [CLS]/[SEP], else 1)."""
    import torch
    encoded = [_encode(tokenizer, t) for t in texts]
    longest = max(len(ids) for ids in encoded)
    ids = torch.full((len(encoded), longest), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, row in enumerate(encoded):
        ids[i, :len(row)], mask[i, :len(row)] = torch.tensor(row), 1
    with torch.no_grad():
        states = model(ids.to(device), attention_mask=mask.to(device))[0].float().cpu()
    special = {tokenizer.cls_token_id, tokenizer.sep_token_id}
    out = []
    for i, row in enumerate(encoded):
        state = states[i, :len(row)]
        out.append((state / state.norm(dim=-1, keepdim=True),
                    torch.tensor([0.0 if t in special else 1.0 for t in row])))
    return out


def raw_scores(candidates: Sequence[str], references: Sequence[str], tokenizer, model, device: str = "cpu"
               ) -> np.ndarray:
    """(n, 3) raw P, R, F of aligned candidate/reference texts."""
    hyps, refs = _embed(tokenizer, model, candidates, device), _embed(tokenizer, model, references, device)
    scores = np.zeros((len(hyps), 3))
    for i, ((h, hw), (r, rw)) in enumerate(zip(hyps, refs)):
        if len(h) <= 2 or len(r) <= 2:  # only special tokens: bert-score's empty-text rule, raw 0
            continue
        sim = h @ r.T
        p = float((sim.max(dim=1).values * hw).sum() / hw.sum())
        r_ = float((sim.max(dim=0).values * rw).sum() / rw.sum())
        scores[i] = p, r_, (2 * p * r_ / (p + r_) if p + r_ else 0.0)
    return scores


class BERTScore(Metric):
    name = "bertscore"
    kind = "text"
    primary = "bertscore"

    @classmethod
    def default_settings(cls):
        return {"model": "distilroberta-base", "num_layers": MODELS["distilroberta-base"]["layer"],
                "rescale_with_baseline": True, "idf": False}

    @classmethod
    def allowed_settings(cls):
        return {"model": tuple(MODELS), "rescale_with_baseline": (True, False)}

    @classmethod
    def unavailable_reason(cls, settings=None):
        from xgem_bench import weights
        settings = {**cls.default_settings(), **(settings or {})}
        if settings["model"] not in MODELS:
            return f"bertscore model must be one of {', '.join(MODELS)}, got {settings['model']!r}"
        return weights.missing_reason(MODELS[settings["model"]]["weight"])

    def __init__(self, context, **settings):
        super().__init__(context, **settings)
        model = self.settings["model"]
        if model not in MODELS:
            raise ValueError(f"bertscore setting model must be one of {', '.join(MODELS)}, got {model!r}")
        if self.settings["idf"] is not False:
            raise ValueError("bertscore supports idf=false only (ReXrank's and CXR-Report-Metric's choice): idf "
                             "weights come from the whole reference set, which a batched metric does not see")
        layers = self.settings["num_layers"]
        if self.settings["rescale_with_baseline"] and not 0 <= layers < len(MODELS[model]["baseline"]):
            raise ValueError(f"no published baseline for {model} layer {layers}; use rescale_with_baseline=false")
        reason = self.unavailable_reason(self.settings)
        if reason:
            raise MetricUnavailable(reason)
        from xgem_bench import weights
        self.settings["model_sha256"] = weights.checksum(MODELS[model]["weight"])
        self.add_state("scores", [], "extend")
        self.add_state("n_empty", 0, "sum")

    def _scorer(self):
        from xgem_bench import weights
        weight = MODELS[self.settings["model"]]["weight"]
        folder = weights.require(weight)
        return _encoder(str(folder), weights.checksum(weight) or "", int(self.settings["num_layers"]),
                        str(self.context.device))

    def pair_scores(self, candidates: Sequence[str], references: Sequence[str]) -> np.ndarray:
        """(n, 3) P, R, F of aligned texts under this metric's settings (rescaled when asked)."""
        tokenizer, model = self._scorer()
        scores = raw_scores(candidates, references, tokenizer, model, self.context.device)
        if self.settings["rescale_with_baseline"]:
            baseline = np.array(MODELS[self.settings["model"]]["baseline"][self.settings["num_layers"]])
            scores = (scores - baseline) / (1 - baseline)
        return scores

    def update(self, samples: Sequence[Sample]) -> None:
        if not samples:
            return
        hyps = [self.generated_of(s) or "" for s in samples]
        refs = [self.reference_of(s) or "" for s in samples]
        self.n_empty += sum(1 for h, r in zip(hyps, refs) if not h.strip() or not r.strip())
        for sample, (p, r, f) in zip(samples, self.pair_scores(hyps, refs)):
            self.scores.append((float(p), float(r), float(f)))
            self.record(sample.study.study_id, bertscore=float(f), bertscore_precision=float(p),
                        bertscore_recall=float(r))

    def compute(self):
        scores = np.array(self.scores, dtype=np.float64).reshape(-1, 3)
        p, r, f = scores.mean(0) if len(scores) else (float("nan"),) * 3
        return {"bertscore": float(f), "bertscore_precision": float(p), "bertscore_recall": float(r),
                "n": len(scores), "n_empty": self.n_empty}
