"""Weights of the ReXrank / CXR-Report-Metric report metrics: CheXbert (CheXbert-F1, SembScore), BERTScore's
distilroberta-base and GREEN's RadLlama2 judge.

- CheXbert: `chexbert.pth` as f1chexbert 0.0.2 and RadEval download it (HF `StanfordAIMI/RRG_scorers`), a
  `torch.save({'epoch', 'model_state_dict', 'optimizer_state_dict'})` whose keys carry DataParallel's `module.` prefix
  (`bert.*` + `linear_heads.{0..13}.*`). The network is bert-base-uncased, so its config and WordPiece vocabulary are a
  separate (small) entry; the BERT weights themselves are inside the checkpoint.
- BERTScore: `distilroberta-base`, the model ReXrank's pipeline names (layer 5, baseline rescaling; bert-score 0.3.13
  `model2layers`).
- GREEN: `StanfordAIMI/GREEN-RadLlama2-7b` (about 13.5 GB in fp16), optional: the metric is skipped when absent.

The hub publishes no checksum we can pin; the checksum of what was fetched or imported is recorded and written into
results.
"""
from __future__ import annotations

from xgem_bench.weights import WeightSpec

WEIGHTS = [
    WeightSpec(
        name="chexbert",
        description="CheXbert labeler checkpoint (bert-base-uncased + 14 heads), as f1chexbert 0.0.2 downloads it",
        used_by="chexbert-f1, sembscore, radcliq-v1",
        source="https://huggingface.co/StanfordAIMI/RRG_scorers/resolve/main/chexbert.pth",
        licence="MIT (CheXbert code); checkpoint released by Stanford AIMI",
        filename="chexbert.pth",
        size=None,
    ),
    WeightSpec(
        name="bert-base-uncased-config",
        description="bert-base-uncased config and WordPiece vocabulary (the CheXbert network's; no weights)",
        used_by="chexbert-f1, sembscore, radcliq-v1",
        source="google-bert/bert-base-uncased",
        licence="Apache-2.0",
        filename="bert-base-uncased-config",
        kind="folder",
        required_files=("config.json", "vocab.txt"),
        allow_patterns=("config.json", "vocab.txt", "tokenizer_config.json"),
    ),
    WeightSpec(
        name="distilroberta-base",
        description="DistilRoBERTa base encoder and BPE tokenizer (BERTScore as ReXrank computes it)",
        used_by="bertscore, radcliq-v1",
        source="distilbert/distilroberta-base",
        licence="Apache-2.0",
        filename="distilroberta-base",
        kind="folder",
        required_files=("config.json", "vocab.json", "merges.txt"),
        allow_patterns=("config.json", "vocab.json", "merges.txt", "tokenizer_config.json", "model.safetensors"),
    ),
    WeightSpec(
        name="green-radllama2-7b",
        description="GREEN-RadLlama2-7b: the LLM judge of the GREEN report metric (ReXrank's GREEN column)",
        used_by="green",
        source="StanfordAIMI/GREEN-RadLlama2-7b",
        licence="see the model card (Llama 2 community licence applies to the base model)",
        filename="GREEN-RadLlama2-7b",
        kind="folder",
        required_files=("config.json",),
    ),
]
