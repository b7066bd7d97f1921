"""Report tokenizers for the three text roles: CLIP text tower, Optimus BERT encoder, Optimus GPT-2 decoder.

`paper` uses the standard tokenizers (CLIP ViT-L/14 BPE, bert-base-cased WordPiece, GPT-2 BPE plus Optimus' three
added tokens <PAD> <BOS> <EOS>), read from `tokenizer.json` files placed by the weights manager. `tiny` trains one
lower-cased WordPiece vocabulary on the training reports (deterministic) and uses it for all three roles.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from tokenizers import Tokenizer

#: weights-catalog names of the pretrained tokenizer files, per role
from xgem_bench.weights_catalog.xgem import TOKENIZER_WEIGHTS as PRETRAINED_WEIGHTS

LOCAL_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[BOS]", "[EOS]")
OPTIMUS_ADDED = ("<PAD>", "<BOS>", "<EOS>")


def clean_for_clip(text: str) -> str:
    """The public CLIP-training cleaning (spec §2), with the punctuation strip done as a real regex."""
    text = re.sub(r"[^\w\s]", "", text.replace("\n", " "))
    return re.sub(r"\s+", " ", text).lower().strip()


def clean_for_vae(text: str) -> str:
    """Optimus lower-cases its input; punctuation stays so decoded reports keep their sentence boundaries."""
    return re.sub(r"\s+", " ", text.replace("\n", " ")).lower().strip()


@dataclass
class RoleTokenizer:
    """One role's view of a `tokenizers.Tokenizer`: which tokens open, close and pad a sequence."""

    tokenizer: Tokenizer
    start: str
    end: str
    pad: str
    max_length: int
    clip_cleaning: bool = False

    def __post_init__(self):
        ids = [self.tokenizer.token_to_id(t) for t in (self.start, self.end, self.pad)]
        if None in ids:
            raise ValueError(f"tokenizer lacks one of the tokens {self.start!r} {self.end!r} {self.pad!r}")
        self.start_id, self.end_id, self.pad_id = ids

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def encode(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids [B, L] (start ... end, right-padded, truncated to max_length) and the attention mask."""
        clean = clean_for_clip if self.clip_cleaning else clean_for_vae
        encoded = self.tokenizer.encode_batch([clean(t) for t in texts], add_special_tokens=False)
        rows = [[self.start_id, *e.ids[: self.max_length - 2], self.end_id] for e in encoded]
        length = max(len(r) for r in rows)
        ids = torch.full((len(rows), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        return ids, mask

    def decode(self, ids: Sequence[int]) -> str:
        """Text up to the first end token, special tokens dropped."""
        ids = list(ids)
        if self.end_id in ids:
            ids = ids[: ids.index(self.end_id)]
        return self.tokenizer.decode([i for i in ids if i not in (self.start_id, self.pad_id)],
                                     skip_special_tokens=True).strip()


@dataclass
class ReportTokenizers:
    clip: RoleTokenizer
    encoder: RoleTokenizer
    decoder: RoleTokenizer


def train_local_tokenizer(reports: Sequence[str], vocab_size: int) -> Tokenizer:
    """A lower-cased WordPiece vocabulary from the training reports: the specials, every character (word-initial and
    `##` continuation, so no word is unknown), then whole words by frequency, ties alphabetical. Built by counting,
    not with `tokenizers`' WordPiece trainer, whose ties fall differently in every process: the same reports must give
    the same vocabulary, or a checkpoint trained in two processes differs from one trained in one."""
    from collections import Counter

    from tokenizers import decoders, models, normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts = Counter(word for r in reports if r and r.strip()
                     for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(clean_for_vae(r))))
    characters = sorted({c for word in counts for c in word})
    vocab = dict.fromkeys([*LOCAL_SPECIALS, *characters, *(f"##{c}" for c in characters)])
    for word in sorted(counts, key=lambda w: (-counts[w], w)):
        if len(vocab) >= vocab_size:
            break
        vocab.setdefault(word)
    tokenizer = Tokenizer(models.WordPiece({token: i for i, token in enumerate(vocab)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer


def local_tokenizers(tokenizer: Tokenizer, clip_length: int, vae_length: int) -> ReportTokenizers:
    return ReportTokenizers(
        clip=RoleTokenizer(tokenizer, "[BOS]", "[EOS]", "[PAD]", clip_length, clip_cleaning=True),
        encoder=RoleTokenizer(tokenizer, "[CLS]", "[SEP]", "[PAD]", vae_length),
        decoder=RoleTokenizer(tokenizer, "[BOS]", "[EOS]", "[PAD]", vae_length),
    )


def pretrained_tokenizers(clip_length: int, vae_length: int) -> ReportTokenizers:
    """The standard tokenizers, from the weights manager (raises WeightsMissing naming the fetch command)."""
    from xgem_bench import weights

    clip = Tokenizer.from_file(str(weights.require(PRETRAINED_WEIGHTS["clip"])))
    bert = Tokenizer.from_file(str(weights.require(PRETRAINED_WEIGHTS["encoder"])))
    gpt2 = Tokenizer.from_file(str(weights.require(PRETRAINED_WEIGHTS["decoder"])))
    gpt2.add_special_tokens(list(OPTIMUS_ADDED))  # ids 50257..50259, as Optimus' decoder vocabulary
    return ReportTokenizers(
        clip=RoleTokenizer(clip, "<|startoftext|>", "<|endoftext|>", "<|endoftext|>", clip_length, clip_cleaning=True),
        encoder=RoleTokenizer(bert, "[CLS]", "[SEP]", "[PAD]", vae_length),
        decoder=RoleTokenizer(gpt2, "<BOS>", "<EOS>", "<PAD>", vae_length),
    )


def load_tokenizers(config, checkpoint_dir: Path | None) -> ReportTokenizers:
    if config.tokenizer == "local":
        path = Path(checkpoint_dir or ".") / "tokenizer.json"
        if not path.is_file():
            raise FileNotFoundError(f"no local tokenizer at {path}; it is written by `xgem-bench train clip`")
        return local_tokenizers(Tokenizer.from_file(str(path)), config.clip.max_length, config.text_vae.max_length)
    return pretrained_tokenizers(config.clip.max_length, config.text_vae.max_length)
