"""Metrics by name: built-ins plus the entry-point group `xgem_bench.metrics`, resolved lazily to classes, so
`import xgem_bench` pulls in no metric dependency."""
from __future__ import annotations


from xgem_bench.metrics.base import Metric, MetricContext, MetricUnavailable, Sample
from xgem_bench.registry import Registry
from xgem_bench.tasks import Task

# name -> "module:Class". One metric per file.
METRICS: dict[str, str] = {
    "bertscore": "xgem_bench.metrics.bertscore:BERTScore",
    "bleu": "xgem_bench.metrics.bleu:BLEU",
    "chexbert-f1": "xgem_bench.metrics.chexbert_f1:CheXbertF1",
    "chexpert-f1": "xgem_bench.metrics.chexpert_f1:CheXpertF1",
    "cider": "xgem_bench.metrics.cider:CIDEr",
    "coherence-cosine": "xgem_bench.metrics.coherence:CosineCoherence",
    "hamming": "xgem_bench.metrics.hamming:HammingCoherence",
    "intra-study-bleu": "xgem_bench.metrics.intra_study_bleu:IntraStudyBLEU",
    "meteor": "xgem_bench.metrics.meteor:METEOR",
    "pixel-mae": "xgem_bench.metrics.pixel_mae:PixelMAE",
    "radgraph-f1": "xgem_bench.metrics.radgraph_f1:RadGraphF1",
    "radcliq-v1": "xgem_bench.metrics.radcliq:RadCliQv1",
    "ratescore": "xgem_bench.metrics.ratescore:RaTEScore",
    "rouge": "xgem_bench.metrics.rouge:ROUGE",
    "sembscore": "xgem_bench.metrics.sembscore:SembScore",
    "green": "xgem_bench.metrics.green:GREEN",
    "token-f1": "xgem_bench.metrics.token_f1:TokenF1",
    "fid-inception": "xgem_bench.metrics.fid_inception:FIDInception",
    "fid-xrv": "xgem_bench.metrics.fid_xrv:FIDXRV",
    "fid-xrv-mimic": "xgem_bench.metrics.fid_xrv_mimic:FIDXRVMimic",
    "xrv-classification": "xgem_bench.metrics.xrv_classification:XRVClassification",
    # issue 15: set-level image metrics on whole feature matrices, memorisation of the training split
    "kid-inception": "xgem_bench.metrics.kid:KID",
    "kid-raddino": "xgem_bench.metrics.kid:KIDRadDino",
    "kid-dinov2": "xgem_bench.metrics.kid:KIDDinoV2",
    "prdc-inception": "xgem_bench.metrics.prdc:PRDC",
    "prdc-raddino": "xgem_bench.metrics.prdc:PRDCRadDino",
    "prdc-dinov2": "xgem_bench.metrics.prdc:PRDCDinoV2",
    "cmmd-clip": "xgem_bench.metrics.cmmd:CMMD",
    "fd-infinity-inception": "xgem_bench.metrics.fd_infinity:FDInfinity",
    "fd-infinity-dinov2": "xgem_bench.metrics.fd_infinity:FDInfinityDinoV2",
    "memorisation-image": "xgem_bench.metrics.memorisation_image:ImageMemorisation",
    "memorisation-report": "xgem_bench.metrics.memorisation_report:ReportMemorisation",
}


#: third-party metrics register here: `[project.entry-points."xgem_bench.metrics"] NAME = "module:Class"`
ENTRY_POINT_GROUP = "xgem_bench.metrics"
REGISTRY = Registry("metric", ENTRY_POINT_GROUP, METRICS)


def metric_names() -> list[str]:
    return REGISTRY.names()


def get_metric_class(name: str) -> type[Metric]:
    return REGISTRY.load(name)


def applies_to(metric_cls: type[Metric], task: Task) -> list:
    """The output modalities of `task` one instance of the metric is made for ([None] once for joint metrics)."""
    if metric_cls.tasks and task.name not in metric_cls.tasks:
        return []
    if metric_cls.kind == "joint":
        return [None] if task.is_joint and set(metric_cls.outputs_needed) <= set(task.outputs) else []
    wanted = metric_cls.kind == "image"
    return [m for m in task.outputs if m.is_image == wanted]


__all__ = ["ENTRY_POINT_GROUP", "METRICS", "REGISTRY", "Metric", "MetricContext", "MetricUnavailable", "Sample",
           "applies_to", "get_metric_class", "metric_names"]
