"""The CheXbert network shared by CheXbert-F1 and SembScore: one forward pass gives both the 14 labels and the
[CLS] embedding of a report.

Network (f1chexbert `bert_labeler`, CheXbert `src/models/bert_labeler.py`): BERT + 13 x Linear(hidden, 4) + one
Linear(hidden, 2) on the final-layer [CLS] state (dropout is inactive at inference). Head classes: 0 blank,
1 positive, 2 negative, 3 uncertain (the last head, No Finding: 0 blank, 1 positive). The checkpoint is loaded
strictly (f1chexbert loads with strict=False, so a wrong file would silently leave random weights); only the
`position_ids` buffer that transformers < 4.31 saved is allowed to be absent from the model.

Text handling follows f1chexbert `tokenize` and CheXbert `bert_tokenizer.py`: strip, newlines to spaces, whitespace
runs collapsed, WordPiece (uncased); over 512 ids the first 511 plus [SEP] are kept; an empty report is [CLS][SEP].
Reports are batched with padding and an attention mask (CRM batches them so; f1chexbert runs one at a time).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Sequence

import numpy as np

#: the order of the 14 heads (CheXbert `constants.py`)
HEAD_ORDER = ("Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema", "Consolidation",
              "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture",
              "Support Devices", "No Finding")
#: head class -> CheXpert label value (1 positive, 0 negative, -1 uncertain, NaN blank), as CheXbert's label.py writes
CLASS_TO_LABEL = (np.nan, 1.0, 0.0, -1.0)
MAX_IDS = 512
_SPACES = re.compile(r"\s+")


def _build(config_dir: str, checkpoint: str, device: str):
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    class CheXbert(torch.nn.Module):
        def __init__(self, config):
            super().__init__()
            self.bert = BertModel(config)
            hidden = config.hidden_size
            self.linear_heads = torch.nn.ModuleList([torch.nn.Linear(hidden, 4) for _ in range(13)]
                                                    + [torch.nn.Linear(hidden, 2)])

        def forward(self, ids, mask):
            cls = self.bert(ids, attention_mask=mask)[0][:, 0, :]
            return torch.stack([head(cls).argmax(1) for head in self.linear_heads], dim=1), cls

    model = CheXbert(BertConfig.from_pretrained(config_dir))
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = saved.get("model_state_dict", saved) if isinstance(saved, dict) else saved
    state = {key.removeprefix("module."): value for key, value in state.items()}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected) - {"bert.embeddings.position_ids"})
    if missing or unexpected:
        raise ValueError(f"{checkpoint} is not a CheXbert checkpoint for the config in {config_dir}: missing "
                         f"{missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}")
    state.pop("bert.embeddings.position_ids", None)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), BertTokenizer.from_pretrained(config_dir)


@lru_cache(maxsize=2)
def _loaded(config_dir: str, checkpoint: str, checkpoint_sha256: str, device: str):
    return _build(config_dir, checkpoint, device)


def load(device: str = "cpu"):
    """(model, tokenizer) from the weights catalog, verified, cached per checkpoint and device."""
    from xgem_bench import weights
    checkpoint = weights.require("chexbert")
    config_dir = weights.require("bert-base-uncased-config")
    return _loaded(str(config_dir), str(checkpoint), weights.checksum("chexbert") or "", str(device))


def encode(report: str | None, tokenizer) -> list[int]:
    """Token ids of one report as CheXbert's own tokenisation makes them."""
    text = _SPACES.sub(" ", (report or "").strip().replace("\n", " ")).strip()
    tokens = tokenizer.tokenize(text)
    if not tokens:
        return [tokenizer.cls_token_id, tokenizer.sep_token_id]
    ids = [tokenizer.cls_token_id, *tokenizer.convert_tokens_to_ids(tokens), tokenizer.sep_token_id]
    return ids if len(ids) <= MAX_IDS else ids[:MAX_IDS - 1] + [tokenizer.sep_token_id]


def run(reports: Sequence[str | None], device: str = "cpu", batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(head classes (n, 14) in HEAD_ORDER, [CLS] embeddings (n, hidden)) of `reports`."""
    import torch
    model, tokenizer = load(device)
    classes, embeddings = [], []
    for start in range(0, len(reports), batch_size):
        encoded = [encode(r, tokenizer) for r in reports[start:start + batch_size]]
        longest = max(len(ids) for ids in encoded)
        ids = torch.full((len(encoded), longest), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(encoded), longest), dtype=torch.float)
        for i, row in enumerate(encoded):
            ids[i, :len(row)] = torch.tensor(row)
            mask[i, :len(row)] = 1
        with torch.no_grad():
            heads, cls = model(ids.to(device), mask.to(device))
        classes.append(heads.cpu().numpy())
        embeddings.append(cls.float().cpu().numpy())
    hidden = model.bert.config.hidden_size
    return (np.concatenate(classes) if classes else np.zeros((0, 14), dtype=int),
            np.concatenate(embeddings) if embeddings else np.zeros((0, hidden), dtype=np.float32))


def labels_of(classes: np.ndarray) -> dict[str, np.ndarray]:
    """Head classes -> {observation: CheXpert label values (1 / 0 / -1 / NaN)}."""
    table = np.asarray(CLASS_TO_LABEL)
    return {name: table[classes[:, j]] for j, name in enumerate(HEAD_ORDER)}
