"""RadDino, DINOv2 and CLIP backbones on tiny models saved locally in the upstream Hugging Face formats
(save_pretrained: config.json, model.safetensors, preprocessor_config.json), imported through the weights manager.

References: the upstream pipelines on the same PIL files: the folder's own image processor + the HF model's CLS token
(RadDino as CheXGenBench), dgm-eval's torchvision transform (Resize((224, 224), BICUBIC), ToTensor, ImageNet
Normalize) + the CLS token (DINOv2), `CLIPModel.get_image_features` L2-normalised (CLIP, as cmmd)."""
import numpy as np
import pytest
from PIL import Image

from xgem_bench import weights
from xgem_bench.metrics.backbone_factory import make_backbone

from image_fixtures import grey_images


def tiny_dinov2(folder, mean=(0.53, 0.53, 0.53), std=(0.26, 0.26, 0.26)):
    import torch
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model
    torch.manual_seed(0)
    config = Dinov2Config(image_size=28, patch_size=14, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                          intermediate_size=64)
    Dinov2Model(config).save_pretrained(folder)
    BitImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28}, do_center_crop=True,
                      resample=3, image_mean=list(mean), image_std=list(std), do_convert_rgb=True).save_pretrained(folder)
    return folder


def tiny_clip(folder, with_projection=True):
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPVisionConfig, CLIPVisionModel
    torch.manual_seed(0)
    # as in the official config, the vision config repeats projection_dim (CLIPVisionModelWithProjection reads it)
    vision = dict(image_size=30, patch_size=15, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                  intermediate_size=64, projection_dim=16)
    if with_projection:
        config = CLIPConfig(text_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                             intermediate_size=64, vocab_size=99), vision_config=vision,
                            projection_dim=16)
        model = CLIPModel(config)
    else:
        model = CLIPVisionModel(CLIPVisionConfig(**vision))
    model.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 30}, crop_size={"height": 30, "width": 30}).save_pretrained(folder)
    return folder, model


def pil_rgb(image):
    return Image.fromarray(np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)).convert("RGB")


def test_raddino_is_the_cls_token_of_the_folder_pipeline(tmp_path):
    import torch
    from transformers import AutoImageProcessor, Dinov2Model
    assert "weights fetch rad-dino" in weights.missing_reason("rad-dino")
    weights.import_file("rad-dino", tiny_dinov2(tmp_path / "rad-dino"))
    images = grey_images(3, size=40, seed=1)
    ours = make_backbone("raddino").features(images)
    folder = weights.require("rad-dino")
    processor, model = AutoImageProcessor.from_pretrained(folder), Dinov2Model.from_pretrained(folder).eval()
    with torch.no_grad():
        out = model(**processor(images=[pil_rgb(x) for x in images], return_tensors="pt"))
    np.testing.assert_allclose(ours, out.last_hidden_state[:, 0].numpy(), rtol=1e-5, atol=1e-5)
    assert make_backbone("raddino").dim == 32 and ours.shape == (3, 32)


def test_dinov2_uses_dgm_eval_transform(tmp_path):
    import torch
    import torchvision.transforms as T
    from transformers import Dinov2Model
    weights.import_file("dinov2-vitb14", tiny_dinov2(tmp_path / "dinov2", mean=(0.1, 0.2, 0.3)))
    images = grey_images(2, size=50, seed=2)
    ours = make_backbone("dinov2").features(images)
    transform = T.Compose([T.Resize((224, 224), interpolation=T.InterpolationMode.BICUBIC), T.ToTensor(),
                           T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    model = Dinov2Model.from_pretrained(weights.require("dinov2-vitb14")).eval()
    with torch.no_grad():
        expected = model(torch.stack([transform(pil_rgb(x)) for x in images])).pooler_output.numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


def test_clip_embeddings_are_the_normalised_image_features_of_the_clip_model(tmp_path):
    import torch
    from transformers import CLIPImageProcessor
    folder, model = tiny_clip(tmp_path / "clip")
    weights.import_file("clip-vit-large-patch14-336", folder)
    images = grey_images(3, size=45, seed=3)
    ours = make_backbone("clip").features(images)
    pixels = CLIPImageProcessor.from_pretrained(folder)(images=[pil_rgb(x) for x in images], return_tensors="pt")
    with torch.no_grad():
        expected = model.eval().get_image_features(**pixels)
    expected = (expected / expected.norm(dim=-1, keepdim=True)).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)
    assert ours.shape == (3, 16) and np.allclose(np.linalg.norm(ours, axis=1), 1)


def test_a_checkpoint_missing_weights_is_refused_not_randomly_filled(tmp_path):
    folder, _ = tiny_clip(tmp_path / "clip-vision-only", with_projection=False)  # no visual_projection
    weights.import_file("clip-vit-large-patch14-336", folder)
    with pytest.raises(ValueError, match="refusing randomly initialised layers.*weights fetch clip-vit-large"):
        make_backbone("clip").features(grey_images(1, size=30))


def test_cmmd_and_kid_metrics_run_on_the_tiny_backbones(tmp_path):
    from test_feature_set_parity import google_cmmd_mmd
    from test_memorisation import context, dataset_of
    from xgem_bench.metrics import Sample, get_metric_class
    from xgem_bench.tasks import Modality
    folder, _ = tiny_clip(tmp_path / "clip")
    weights.import_file("clip-vit-large-patch14-336", folder)
    weights.import_file("rad-dino", tiny_dinov2(tmp_path / "rad-dino"))
    dataset = dataset_of(n_train=2, n_test=6)
    samples = [Sample(dataset.load(int(i)), {Modality.FRONTAL: 1 - dataset.load(int(i)).frontal})
               for i in dataset.indices("test")]
    values = {}
    for name in ("cmmd-clip", "kid-raddino", "prdc-raddino"):
        if name == "prdc-raddino":  # the reference features KID cached for this backbone are reused, not re-extracted
            dataset.load = lambda *args: (_ for _ in ()).throw(AssertionError("reference re-extracted"))
        cls = get_metric_class(name)
        assert cls.unavailable_reason(cls.default_settings()) is None
        metric = cls(context(dataset, tmp_path, Modality.FRONTAL), **({"nearest_k": 2} if "prdc" in name else {}))
        metric.update(samples)
        values[name] = metric.compute()
    archive = np.load(tmp_path / "artifacts" / "cmmd-clip-F.npz")
    expected = google_cmmd_mmd(archive["generated"], archive["reference"], dtype=np.float64)
    assert values["cmmd-clip"]["cmmd"] == pytest.approx(expected, rel=1e-9)
    assert values["kid-raddino"]["n_generated"] == 6 and np.isfinite(values["kid-raddino"]["kid"])
    assert 0 <= values["prdc-raddino"]["coverage"] <= 1
