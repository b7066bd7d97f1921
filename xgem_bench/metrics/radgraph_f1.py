"""RadGraph-F1 through the official `radgraph` package: entity/relation overlap of generated and real reports.

`radgraph.F1RadGraph` annotates both reports with a DyGIE++ model and scores each pair at three reward levels
(radgraph `rewards.py`): ``simple`` (RG_E, entities), ``partial`` (RG_ER, entities plus "has a relation"; the level most
report-generation papers quote) and ``complete`` (RG_bar_ER, entities with every relation and its target). All three are
computed in one pass; the ``reward_level`` setting picks the one reported as ``radgraph_f1``. A pair with an empty
hypothesis or reference scores 0 at every level and stays in the mean (upstream behaviour); such pairs are counted.

Settings: ``model_type`` (``radgraph`` = v1, ``radgraph-xl``; the package's own default is ``radgraph-xl``, so that is
ours), ``reward_level`` and the text normalisation applied before the package's own tokenisation: ``lowercase=true``
by default (punctuation kept, whitespace collapsed, NFKC). RadGraph's BERT is uncased, so lower-casing the text leaves
the annotation unchanged and only makes the entity tokens compare without case, as upstream radgraph HEAD does at every
reward level (0.1.18, the PyPI release, compares them case-sensitively at the simple and partial levels: a model writing
lower-case reports would lose every capitalised entity match). ``lowercase=false`` reproduces 0.1.18 on raw text.
The package version and the model archive's checksum are added to the settings.
The package annotates one report per forward pass (DyGIE++ has no multi-document batches).
"""
from __future__ import annotations

import contextlib
import json
import sys
import tarfile
from pathlib import Path
from typing import Sequence

import numpy as np

from xgem_bench.atomic import atomic_path
from xgem_bench.metrics.base import Sample
from xgem_bench.metrics.upstream_text import RAW_TEXT, UpstreamTextMetric

MODEL_TYPES = ("radgraph", "radgraph-xl")
REWARD_LEVELS = ("simple", "partial", "complete")
#: hub names RadGraph archives use for their BERT (PubMedBERT was renamed BiomedBERT) -> weights catalog entry
_BERT_WEIGHTS = {
    "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext": "radgraph-bert",
    "microsoft/BiomedNLP-PubMedBERT-base-uncased-abstract-fulltext": "radgraph-bert",
}


def _bert_reference(config: dict) -> list[dict]:
    """The two places a DyGIE++ config names its transformer (token indexer and embedder)."""
    return [config["dataset_reader"]["token_indexers"]["bert"], config["model"]["embedder"]["token_embedders"]["bert"]]


def prepare_model_dir(model_type: str) -> Path:
    """Extract the model archive once into our cache and point its config at the local BERT folder.

    Returns the folder to pass as radgraph's `model_cache_dir` (it holds `<model_type>/config.json`, ...).
    Raises WeightsMissing with the fixing command when a file is absent.
    """
    from xgem_bench import weights

    archive = weights.require(model_type)
    key = (weights.checksum(model_type) or f"{archive.stat().st_size}-{int(archive.stat().st_mtime)}")[:16]
    root = weights.cache_root() / "radgraph-models" / key
    target = root / model_type
    if (target / "config.json").is_file():
        return root
    with atomic_path(target, folder=True) as staging:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(staging, filter="data")
        config_path = staging / "config.json"
        if not config_path.is_file():
            raise ValueError(f"{archive} is not a RadGraph model archive: no config.json at its top level")
        config = json.loads(config_path.read_text())
        for entry in _bert_reference(config):
            name = entry["model_name"]
            if Path(name).is_dir():
                continue
            if name not in _BERT_WEIGHTS:
                raise ValueError(f"the {model_type} archive names the transformer {name!r}, which is not in the "
                                 f"weights catalog (known: {', '.join(sorted(_BERT_WEIGHTS))})")
            entry["model_name"] = str(weights.require(_BERT_WEIGHTS[name]))
        config_path.write_text(json.dumps(config, indent=2))
    return root


class RadGraphF1(UpstreamTextMetric):
    name = "radgraph-f1"
    primary = "radgraph_f1"
    weights = ("radgraph-bert",)
    packages = ("radgraph",)
    choices = {"model_type": MODEL_TYPES, "reward_level": REWARD_LEVELS}

    @classmethod
    def default_settings(cls):
        return {"model_type": "radgraph-xl", "reward_level": "partial", **RAW_TEXT, "lowercase": True}

    @classmethod
    def needed_weights(cls, settings):
        return (settings["model_type"], *cls.weights)

    def __init__(self, context, **settings):
        super().__init__(context, **settings)
        from xgem_bench import weights
        self.settings["model_sha256"] = weights.checksum(self.settings["model_type"])
        self.add_state("rewards", [], "extend")
        self.add_state("n_empty_hypothesis", 0, "sum")
        self.add_state("n_empty_reference", 0, "sum")

    def _f1radgraph(self):
        if self._scorer is None:
            from radgraph import F1RadGraph
            device = str(self.context.device)
            cuda = int(device.partition(":")[2] or 0) if device.startswith("cuda") else -1
            with contextlib.redirect_stdout(sys.stderr):  # the package prints; keep stdout clean for JSON output
                self._scorer = F1RadGraph(reward_level="all", model_type=self.settings["model_type"], cuda=cuda,
                                          model_cache_dir=str(prepare_model_dir(self.settings["model_type"])))
        return self._scorer

    def update(self, samples: Sequence[Sample]) -> None:
        if not samples:
            return
        hyps = [self.normalization.normalize(self.generated_of(s)) for s in samples]
        refs = [self.normalization.normalize(self.reference_of(s)) for s in samples]
        self.n_empty_hypothesis += sum(not h for h in hyps)
        self.n_empty_reference += sum(not r for r in refs)
        scorer = self._f1radgraph()
        with contextlib.redirect_stdout(sys.stderr):
            _, (simple, partial, complete), _, _ = scorer(refs=refs, hyps=hyps)
        level = REWARD_LEVELS.index(self.settings["reward_level"])
        for sample, triplet in zip(samples, zip(simple, partial, complete)):
            triplet = [float(v) for v in triplet]
            self.rewards.append(triplet)
            self.record(sample.study.study_id, radgraph_f1=triplet[level],
                        **dict(zip(REWARD_LEVELS, triplet)))

    def compute(self) -> dict[str, float]:
        rewards = np.array(self.rewards, dtype=np.float64).reshape(-1, 3)
        means = rewards.mean(axis=0) if len(rewards) else np.full(3, np.nan)
        level = REWARD_LEVELS.index(self.settings["reward_level"])
        return {"radgraph_f1": float(means[level]), **{k: float(v) for k, v in zip(REWARD_LEVELS, means)},
                "n": len(rewards), "n_empty_hypothesis": self.n_empty_hypothesis,
                "n_empty_reference": self.n_empty_reference}
