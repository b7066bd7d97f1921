"""Our feature extraction equals the upstream packages' own models on the same weights and input."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from xgem_bench import weights
from xgem_bench.metrics.backbone_factory import make_backbone
from xgem_bench.metrics.backbones import center_crop


def xrv_input(images):
    """torchxrayvision's documented recipe on [0, 1] images: centre crop, [-1024, 1024], 1 channel."""
    import torchxrayvision as xrv
    return torch.stack([torch.from_numpy(xrv.datasets.normalize(center_crop(i), 1.0)[None]) for i in images]).float()


def upstream_xrv(folder, variant="all"):
    import torchxrayvision as xrv
    return xrv.models.DenseNet(weights=f"densenet121-res224-{variant}", cache_dir=str(folder)).eval()


def test_xrv_features_and_outputs_equal_torchxrayvision(xrv_weights, make_images):
    upstream = upstream_xrv(xrv_weights("all"))
    # one square image, one wider than tall (centre-cropped like XRayCenterCrop)
    images = make_images(1, size=224) + [np.pad(make_images(1, size=224, seed=1)[0], ((0, 0), (16, 16)))]
    with torch.no_grad():
        x = xrv_input(images)
        maps = upstream.features(x)
        expected_features, expected_outputs = upstream.features2(x).numpy(), upstream(x).numpy()
    backbone = make_backbone("xrv", channels_last=False, quantize="none")
    np.testing.assert_array_equal(backbone.features(images), expected_features)
    np.testing.assert_allclose(backbone.classify(images), expected_outputs, rtol=1e-6, atol=1e-7)
    assert backbone.pathologies == list(upstream.pathologies)

    # layer=features: global average pool before the ReLU, a different feature space; channels_last on
    pre_relu = F.adaptive_avg_pool2d(maps, 1).flatten(1).numpy()
    got = make_backbone("xrv", layer="features", quantize="none").features(images)
    np.testing.assert_allclose(got, pre_relu, rtol=1e-4, atol=1e-4 * np.abs(pre_relu).max())
    assert (pre_relu < 0).any()


def test_xrv_bilinear_aa_matches_torchxrayvision_internal_resize(xrv_weights, make_images):
    # non-224 input: torchxrayvision >= 1.3.2 resizes inside features2 (bilinear, antialias) = `bilinear-aa`
    upstream = upstream_xrv(xrv_weights("all"))
    images = make_images(1, size=256)
    with torch.no_grad():
        expected = upstream.features2(xrv_input(images)).numpy()
    got = make_backbone("xrv", channels_last=False, resize="bilinear-aa", quantize="none").features(images)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def skimage_recipe(images, maxval=1.0):
    """torchxrayvision's documented preprocessing: normalize, XRayCenterCrop, XRayResizer(224) (skimage)."""
    import torchxrayvision as xrv
    crop, resize = xrv.datasets.XRayCenterCrop(), xrv.datasets.XRayResizer(224)
    return np.stack([resize(crop(xrv.datasets.normalize(i, maxval)[None])) for i in images]).astype(np.float32)


@pytest.mark.parametrize("size", [(256, 256), (256, 300)])
def test_xrv_default_resize_equals_skimage_xray_resizer(make_images, size):
    images = [np.pad(i, ((0, 0), (0, size[1] - size[0]))) for i in make_images(3, size=size[0])]
    expected = skimage_recipe(images)
    for resize, agrees in (("bilinear", True), ("bilinear-aa", False)):
        backbone = make_backbone("xrv", channels_last=False, resize=resize, quantize="none")
        got = backbone._scale(backbone._resize(backbone.prepare(images))).numpy()
        rms = float(np.sqrt(np.mean((got - expected) ** 2)))
        # ~1e-3 on the [-1024, 1024] scale (skimage's Gaussian pre-filter at 256 -> 224 has sigma ~0.07)
        assert (rms < 5e-3) if agrees else (rms > 10), (resize, rms)


def test_xrv_default_pipeline_equals_the_upstream_recipe_on_8_bit_files(xrv_weights, make_images):
    # default quantize=uint8: what reading an 8-bit PNG and normalising with maxval 255 gives
    upstream = upstream_xrv(xrv_weights("all"))
    images = make_images(2, size=256)
    as_png = [np.rint(np.clip(i, 0, 1) * 255).astype(np.uint8) for i in images]
    with torch.no_grad():
        expected = upstream.features2(torch.from_numpy(skimage_recipe(as_png, 255.0))).numpy()
    backbone = make_backbone("xrv", channels_last=False)
    assert backbone.settings["quantize"] == "uint8" and backbone.settings["resize"] == "bilinear"
    np.testing.assert_allclose(backbone.features(images), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_inception_features_equal_pytorch_fid(converted_inception, inception_weights, make_images):
    # pytorch-fid loads its weights from the torch hub cache under the official name: give it the same weights
    from pytorch_fid.inception import InceptionV3
    from xgem_bench.weights_catalog.image_metrics import FID_INCEPTION_FILE, torch_hub_checkpoints
    state = torch.load(converted_inception, weights_only=True)
    state["fc.weight"], state["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)  # unused by pool3
    torch_hub_checkpoints().mkdir(parents=True)
    torch.save(state, torch_hub_checkpoints() / FID_INCEPTION_FILE)
    reference = InceptionV3([3]).eval()

    images = make_images(2, size=96)
    with torch.no_grad():
        rgb = torch.stack([torch.from_numpy(i) for i in images])[:, None].expand(-1, 3, -1, -1)
        expected = reference(rgb)[0].flatten(1).numpy()
    backbone = make_backbone("inception", quantize="none", weights="fid-helper", channels_last=False)
    np.testing.assert_allclose(backbone.features(images), expected, rtol=1e-5, atol=1e-5)
    assert backbone.settings["weights"] == "fid-helper"


@pytest.mark.slow
def test_converted_inception_reproduces_the_torchscript(inception_weights):
    # independent of the conversion's own check: another input, through our loader of the installed file
    from xgem_bench.metrics.backbones import load_inception_pool3
    from xgem_bench.weights_inception_import import fid_helper_script
    script = torch.jit.load(str(fid_helper_script()), map_location="cpu").eval()
    x = torch.rand(1, 3, 299, 299, generator=torch.Generator().manual_seed(7)) * 2 - 1
    with torch.no_grad():
        expected, got = script(x), load_inception_pool3(inception_weights).eval()(x)
    assert float((got - expected).abs().max()) <= 1e-4 * float(expected.abs().max())


def test_inception_auto_prefers_the_official_file(inception_weights):
    from xgem_bench.metrics.backbones import inception_weight
    assert inception_weight("auto") == "fid-inception-fid-helper"
    official = weights.get("fid-inception").path
    official.parent.mkdir(parents=True)
    official.write_bytes(b"placeholder")
    assert inception_weight("auto") == "fid-inception"


def test_missing_weights_raise_with_the_fixing_command(make_images):
    backbone = make_backbone("xrv-mimic")
    with pytest.raises(weights.WeightsMissing, match="xgem-bench weights fetch xrv-densenet121-res224-mimic_ch"):
        backbone.features(make_images(1))
    inception = make_backbone("inception")
    assert inception.settings["weights"] == "official"
    with pytest.raises(weights.WeightsMissing, match="weights fetch fid-inception"):
        inception.features(make_images(1))


def test_bad_backbone_settings_raise():
    with pytest.raises(ValueError, match="unknown backbone"):
        make_backbone("resnet")
    with pytest.raises(ValueError, match="layer"):
        make_backbone("xrv", layer="fc")
    with pytest.raises(ValueError, match="MIMIC variant"):
        make_backbone("xrv-mimic", variant="all")
    with pytest.raises(ValueError, match="no setting"):
        make_backbone("inception", layer="features2")
