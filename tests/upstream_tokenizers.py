"""Tokenizer files built locally in the exact upstream formats (loaded by the real transformers / tokenizers code).

The vocabularies are byte-level: every byte is a token, plus a merge or two, so any text tokenizes."""
import json
from pathlib import Path

from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode

BYTES = list(bytes_to_unicode().values())


def write_clip_vocab(folder: Path) -> tuple[Path, Path]:
    """CLIP BPE vocab.json and merges.txt: every byte with and without the end-of-word mark, two merges."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {c: i for i, c in enumerate(BYTES + [c + "</w>" for c in BYTES])}
    merges = ["t h", "th e</w>"]
    for merge in merges:
        vocab.setdefault(merge.replace(" ", ""), len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return folder / "vocab.json", folder / "merges.txt"


def write_clip_tokenizer(folder):
    """A CLIP BPE tokenizer with a 77-token window, through the real CLIPTokenizer code."""
    from transformers import CLIPTokenizer
    return CLIPTokenizer(*map(str, write_clip_vocab(folder)), model_max_length=77)


def write_upstream_tokenizers(folder) -> dict:
    """Small CLIP-BPE, cased-WordPiece and GPT-2 byte-level BPE tokenizers, written as `tokenizer.json` by the same
    transformers converters that produced the upstream files. Returns weights-catalog name -> path."""
    from transformers import BertTokenizerFast, CLIPTokenizerFast, GPT2TokenizerFast

    folder = Path(folder)
    gpt2_vocab = {c: i for i, c in enumerate(BYTES)}
    gpt2_vocab.update({"Ġt": len(gpt2_vocab), "<|endoftext|>": len(gpt2_vocab) + 1})
    (folder / "gpt2").mkdir(parents=True, exist_ok=True)
    (folder / "gpt2" / "vocab.json").write_text(json.dumps(gpt2_vocab))
    (folder / "gpt2" / "merges.txt").write_text("#version: 0.2\nĠ t\n")
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = "no acute cardiopulmonary process small left right pleural effusion mild cardiomegaly . , the".split()
    (folder / "bert-vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words,
                                                       *letters, *["##" + c for c in letters]]))
    built = {"xgem-tokenizer-clip": CLIPTokenizerFast(*map(str, write_clip_vocab(folder / "clip"))),
             "xgem-tokenizer-bert": BertTokenizerFast(str(folder / "bert-vocab.txt"), do_lower_case=False),
             "xgem-tokenizer-gpt2": GPT2TokenizerFast(str(folder / "gpt2" / "vocab.json"),
                                                      str(folder / "gpt2" / "merges.txt"))}
    paths = {}
    for name, tokenizer in built.items():
        paths[name] = folder / f"{name}.json"
        tokenizer.backend_tokenizer.save(str(paths[name]))
    return paths
