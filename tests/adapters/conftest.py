"""Shared fixtures for adapter tests: small synthetic studies with every modality."""
import os

import numpy as np
import pytest
import torch

# Tiny models on a shared 2-core machine: one thread is ~15x faster than two oversubscribed ones.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

from xgem_bench.data import InMemoryDataset, Study


def make_studies(n: int = 3, size: int = 256) -> list[Study]:
    rng = np.random.default_rng(0)
    reports = ["no acute cardiopulmonary process.", "small left pleural effusion.", "mild cardiomegaly."]
    return [Study(study_id=f"s{i}", subject_id=f"p{i}", frontal=rng.random((size, size), dtype=np.float32),
                  lateral=rng.random((size, size), dtype=np.float32), report=reports[i % len(reports)])
            for i in range(n)]


@pytest.fixture
def studies():
    return make_studies()


@pytest.fixture
def dataset(studies):
    return InMemoryDataset(studies, name="synthetic", synthetic=True)


def write_clip_tokenizer(folder):
    """A CLIP BPE tokenizer built locally: every byte as a token (with and without the end-of-word mark), no merges
    beyond a few, 77-token window. Loads through the real CLIPTokenizer code."""
    import json
    from pathlib import Path

    from transformers import CLIPTokenizer
    from transformers.models.clip.tokenization_clip import bytes_to_unicode

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chars = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars + [c + "</w>" for c in chars])}
    merges = ["t h", "th e</w>"]
    for merge in merges:
        vocab.setdefault(merge.replace(" ", ""), len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)
