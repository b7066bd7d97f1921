"""Backbones by name and settings: `inception`, `xrv` (variant all, or the demo stand-in), `xrv-mimic`, and the
vision transformers `raddino`, `dinov2`, `clip` (metrics/vit_backbones.py).

Apart from `backbones.py`, so that the demo stand-in (`demo_backbone.py`, a subclass of `XRVBackbone`) and the real
networks are chosen in one place without an import cycle.
"""
from __future__ import annotations

from typing import Any

from xgem_bench.metrics.backbones import Backbone, InceptionBackbone, XRVBackbone
from xgem_bench.metrics.demo_backbone import DemoBackbone
from xgem_bench.metrics.vit_backbones import VIT_BACKBONES


def xrv_backbone(device: str | None = "cpu", channels_last: bool = True, **settings: Any) -> XRVBackbone:
    """The XRV backbone of `settings["variant"]`; `demo` is the demo-trained stand-in (metrics/demo_backbone.py)."""
    if settings.get("variant") == "demo":
        return DemoBackbone(device=device, channels_last=channels_last, **settings)
    return XRVBackbone(device=device, channels_last=channels_last, **settings)


BACKBONES = {"inception": InceptionBackbone, "xrv": XRVBackbone, "xrv-mimic": XRVBackbone, **VIT_BACKBONES}


def backbone_settings(name: str) -> dict[str, Any]:
    """Default settings of a named backbone (`xrv-mimic` is the XRV backbone with variant mimic_ch)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; use one of {', '.join(BACKBONES)}")
    defaults = BACKBONES[name].default_settings()
    return {**defaults, "variant": "mimic_ch"} if name == "xrv-mimic" else defaults


def make_backbone(name: str, device: str | None = "cpu", **settings: Any) -> Backbone:
    """`inception`, `xrv` (variant all, or demo) or `xrv-mimic` (variant mimic_ch unless `variant` says otherwise)."""
    settings = {**backbone_settings(name), **settings}
    channels_last = settings.pop("channels_last", True)
    if name == "xrv-mimic" and settings["variant"] == "all":
        raise ValueError("xrv-mimic needs a MIMIC variant: mimic_ch or mimic_nb")
    if name == "xrv" and settings["variant"] not in ("all", "demo"):
        raise ValueError("backbone xrv is the `all` model (or the demo stand-in); use xrv-mimic for the MIMIC variants")
    if name == "xrv-mimic" and settings["variant"] == "demo":
        raise ValueError("the demo backbone stands in for xrv (variant=demo), not xrv-mimic")
    if settings.get("variant") == "demo":
        return xrv_backbone(device=device, channels_last=channels_last, **settings)
    return BACKBONES[name](device=device, channels_last=channels_last, **settings)
