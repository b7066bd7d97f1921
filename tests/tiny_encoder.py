"""A tiny XGeM prompt encoder saved in the checkpoint layout (config, tokenizer, trained-marked clip/ stage): what the
coherence metric loads. Randomly initialised, seeded; imported by name by the coherence and torchrun tests."""
import json
from pathlib import Path

ENCODER_REPORTS = ["no acute cardiopulmonary process", "small left pleural effusion",
                   "moderate cardiomegaly with edema", "right upper lobe pneumonia", "no pneumothorax",
                   "stable support devices"]


def save_tiny_encoder(root: Path, reports=ENCODER_REPORTS):
    """Write the checkpoint folder `root`; returns the PromptEncoder whose weights it holds."""
    import torch

    from xgem_bench.reference_model.config import tiny_config
    from xgem_bench.reference_model.model import build_prompt_encoder
    from xgem_bench.reference_model.tokenizer import local_tokenizers, train_local_tokenizer
    torch.manual_seed(0)
    config = tiny_config()
    tokenizer = train_local_tokenizer(list(reports) * 5, config.local_vocab_size)
    (root / "clip").mkdir(parents=True)
    config.save(root / "xgem_config.json")
    tokenizer.save(str(root / "tokenizer.json"))
    encoder = build_prompt_encoder(config, local_tokenizers(tokenizer, config.clip.max_length,
                                                            config.text_vae.max_length))
    encoder.clip.save_pretrained(root / "clip")
    (root / "clip" / "stage.json").write_text(json.dumps({"stage": "clip", "steps": 0}))
    return encoder
