"""Weights of the report metrics: RadGraph (radgraph 0.1.18) and RaTEScore (RaTEScore 0.6.0), all on the HF hub.

- RadGraph models are the archives the `radgraph` package itself downloads (`StanfordAIMI/RRG_scorers`,
  `<model_type>.tar.gz`: `config.json`, `vocabulary/`, `weights.th`). The archive's config names a BERT on the hub
  whose config and tokenizer the package loads by name (the BERT weights themselves are inside `weights.th`); that
  BERT is a separate entry and the metric points the extracted config at its local folder.
- RaTEScore loads two hub models by name: the NER tagger and the BioLORD synonym encoder; the metric passes the local
  folders instead.

Users who already ran the upstream packages can import what they have: the archive from
`~/.cache/radgraph/0.1.18/models--StanfordAIMI--RRG_scorers/snapshots/*/`, the model folders from
`~/.cache/huggingface/hub/models--*/snapshots/*/`. The hub publishes no checksum we can pin; the checksum of what was
fetched or imported is recorded and written into results.
"""
from __future__ import annotations

from xgem_bench.weights import WeightSpec

_RRG = "https://huggingface.co/StanfordAIMI/RRG_scorers/resolve/main/"
RADGRAPH_BERT_HUB = "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext"


def _radgraph_archive(model_type: str, model: str) -> WeightSpec:
    return WeightSpec(
        name=model_type,
        description=f"{model} entity/relation extractor (DyGIE++), archive as downloaded by radgraph 0.1.18",
        used_by=f"radgraph-f1 (model_type={model_type})",
        source=f"{_RRG}{model_type}.tar.gz",
        licence="MIT (radgraph package); model released by Stanford AIMI on the HF hub",
        filename=f"{model_type}.tar.gz",
    )


WEIGHTS = [
    _radgraph_archive("radgraph", "RadGraph v1"),
    _radgraph_archive("radgraph-xl", "RadGraph-XL"),
    WeightSpec(
        name="radgraph-bert",
        description="BiomedBERT (PubMedBERT) config + uncased WordPiece vocabulary that RadGraph archives name",
        used_by="radgraph-f1",
        source=RADGRAPH_BERT_HUB,
        licence="MIT",
        filename="BiomedBERT-base-uncased-abstract-fulltext",
        kind="folder",
        required_files=("config.json", "vocab.txt"),
        allow_patterns=("config.json", "vocab.txt", "tokenizer*.json", "special_tokens_map.json"),  # not the 440 MB weights
    ),
    WeightSpec(
        name="ratescore-ner",
        description="RaTE-NER-Deberta: medical entity tagger (ABNORMALITY, ANATOMY, DISEASE, NON-*) of RaTEScore",
        used_by="ratescore",
        source="Angelakeke/RaTE-NER-Deberta",
        licence="MIT (RaTEScore); see the model card",
        filename="RaTE-NER-Deberta",
        kind="folder",
        required_files=("config.json",),
    ),
    WeightSpec(
        name="ratescore-biolord",
        description="BioLORD-2023-C sentence encoder used by RaTEScore to match synonymous entities",
        used_by="ratescore",
        source="FremyCompany/BioLORD-2023-C",
        licence="see the model card (BioLORD-2023; derived from SNOMED-CT/UMLS terms)",
        filename="BioLORD-2023-C",
        kind="folder",
        required_files=("config.json",),
    ),
]
