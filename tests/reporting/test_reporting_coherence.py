"""Cosine coherence with a tiny XGeM prompt encoder saved in the checkpoint layout; cosine on hand-made vectors."""
import numpy as np
import pytest

from xgem_bench.data.study import Study
from xgem_bench.metrics import METRICS, MetricContext, Sample, applies_to, get_metric_class
from xgem_bench.metrics.coherence import CosineCoherence, cosine_rows, encoder_problem
from xgem_bench.tasks import Modality, parse_task

from tiny_encoder import ENCODER_REPORTS as REPORTS, save_tiny_encoder


def test_cosine_on_hand_made_vectors():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 0.0], [1.0, 0.0], [3.0, 4.0]])
    b = np.array([[0.0, 2.0], [2.0, 2.0], [-1.0, 0.0], [0.5, np.sqrt(3) / 2], [3.0, 4.0]])
    assert cosine_rows(a, b) == pytest.approx([0.0, 1.0, -1.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="zero vector"):
        cosine_rows(np.zeros((1, 2)), np.ones((1, 2)))


@pytest.fixture
def checkpoint(tmp_path):
    """A tiny XGeM checkpoint folder with a (randomly initialised, but saved and marked trained) CLIP stage."""
    root = tmp_path / "xgem-tiny"
    return root, save_tiny_encoder(root, REPORTS)


def _studies(n, seed=0):
    rng = np.random.default_rng(seed)
    return [Study(f"s{i}", frontal=rng.random((48, 40), dtype=np.float32), lateral=rng.random((48, 40), dtype=np.float32),
                  report=REPORTS[i % len(REPORTS)]) for i in range(n)]


def _metric(task, root, **settings):
    context = MetricContext(task=parse_task(task), modality=None, batch_size=3)
    return CosineCoherence(context, encoder=str(root), **settings)


def test_cosine_equals_the_encoder_embeddings(checkpoint):
    import torch
    root, encoder = checkpoint
    studies, others = _studies(5), _studies(5, seed=1)
    samples = [Sample(s, {Modality.FRONTAL: o.frontal, Modality.REPORT: o.report}) for s, o in zip(studies, others)]
    metric = _metric("L->F+T", root)
    metric.update(samples[:2])
    metric.update(samples[2:])
    values = metric.compute()
    with torch.inference_mode():
        images = encoder.encode_images(torch.from_numpy(np.stack([o.frontal for o in others]))).numpy()
        texts = encoder.encode_texts([o.report for o in others]).numpy()
        real_i = encoder.encode_images(torch.from_numpy(np.stack([s.frontal for s in studies]))).numpy()
        real_t = encoder.encode_texts([s.report for s in studies]).numpy()
    expected = (images * texts).sum(1)
    assert [metric.per_sample()[f"s{i}"]["cosine"] for i in range(5)] == pytest.approx(expected, abs=1e-5)
    assert values["cosine"] == pytest.approx(expected.mean(), abs=1e-5)
    assert values["cosine_real"] == pytest.approx((real_i * real_t).sum(1).mean(), abs=1e-5)
    assert metric.settings["encoder"] == str(root) and metric.settings["encoder_checkpoint"] == str(root.resolve())
    assert len(metric.settings["encoder_fingerprint"]) == 16


def test_cosine_equals_transformers_clip_features(checkpoint):
    # the reference: transformers' CLIPModel from the saved folder, its CLIPImageProcessor (8-bit images at the tower's
    # resolution, so PIL's resize is the identity) and get_image_features / get_text_features
    import torch
    from PIL import Image
    from transformers import CLIPImageProcessor, CLIPModel
    root, encoder = checkpoint
    clip = CLIPModel.from_pretrained(root / "clip").eval()
    size = clip.config.vision_config.image_size
    rng = np.random.default_rng(3)
    pixels = [rng.integers(0, 256, (size, size), dtype=np.uint8) for _ in range(4)]
    studies = [Study(f"s{i}", frontal=p.astype(np.float32) / 255, report=REPORTS[i]) for i, p in enumerate(pixels)]
    samples = [Sample(s, {Modality.FRONTAL: s.frontal, Modality.REPORT: REPORTS[-1 - i]}) for i, s in enumerate(studies)]
    metric = _metric("L->F+T", root)
    metric.update(samples)
    metric.compute()
    processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    inputs = processor(images=[Image.fromarray(p).convert("RGB") for p in pixels], return_tensors="pt")
    ids, mask = encoder.tokenizer.encode([REPORTS[-1 - i] for i in range(4)])  # the checkpoint's own tokenizer
    with torch.no_grad():
        image = torch.nn.functional.normalize(clip.get_image_features(**inputs), dim=-1)
        text = torch.nn.functional.normalize(clip.get_text_features(input_ids=ids, attention_mask=mask), dim=-1)
    expected = (image * text).sum(1).numpy()
    assert [metric.per_sample()[f"s{i}"]["cosine"] for i in range(4)] == pytest.approx(expected, abs=1e-5)
    assert np.ptp(expected) > 1e-3  # distinct pairs give distinct values


def test_real_outputs_score_the_real_pair_level_and_images_pairs_work(checkpoint):
    root, _ = checkpoint
    studies = _studies(4)
    samples = [Sample(s, {Modality.FRONTAL: s.frontal, Modality.LATERAL: s.lateral}) for s in studies]
    metric = _metric("T->F+L", root)
    metric.update(samples)
    values = metric.compute()
    assert values["cosine"] == pytest.approx(values["cosine_real"], abs=1e-6)
    assert -1.0 <= values["cosine"] <= 1.0
    no_real = _metric("T->F+L", root, real_pairs=False)
    no_real.update(samples)
    assert "cosine_real" not in no_real.compute()


def test_unavailable_without_a_trained_encoder_names_the_fix(tmp_path, checkpoint):
    from xgem_bench.reference_model.model import default_checkpoint
    reason = CosineCoherence.unavailable_reason({"encoder": str(tmp_path / "none")})
    assert "no trained XGeM prompt encoder" in reason and "xgem-bench train clip --config tiny|paper" in reason
    assert CosineCoherence.default_settings()["encoder"] == "tiny"
    reason = CosineCoherence.unavailable_reason({})  # the test cache holds no checkpoint
    assert f"xgem-bench train clip --config tiny --checkpoint {default_checkpoint('tiny')}" in reason
    root, _ = checkpoint
    assert encoder_problem(str(root)) is None
    (root / "clip" / "stage.json").unlink()  # an untrained stage is not an encoder
    assert encoder_problem(str(root)) is not None
    with pytest.raises(FileNotFoundError, match="no trained XGeM prompt encoder"):
        _metric("T->F+L", root)


def test_registered_for_joint_tasks_only():
    assert METRICS["coherence-cosine"].endswith(":CosineCoherence")
    cls = get_metric_class("coherence-cosine")
    assert applies_to(cls, parse_task("T->F+L")) == [None]
    assert applies_to(cls, parse_task("L->F")) == []


def test_runner_run_feeds_table7_and_hamming_is_not_applied_without_a_report(checkpoint, tmp_path):
    from xgem_bench.data import InMemoryDataset
    from xgem_bench.results import load_run
    from xgem_bench.runner import Runner
    from xgem_bench.tables import build_table, render
    root, _ = checkpoint
    studies = _studies(6)
    for i, s in enumerate(studies):
        s.split = "test" if i % 2 else "train"
    runner = Runner("T->F+L", models=["oracle", "shuffled"], dataset=InMemoryDataset(studies, name="coh"),
                    out=tmp_path / "out", cache_dir=tmp_path / "cache", progress=False,
                    metric_settings={"coherence-cosine": {"encoder": str(root)}})
    assert "coherence-cosine" in runner.metric_names and "hamming" not in runner.metric_names
    run = load_run(runner.run().run_dir)
    oracle = run["models"]["oracle"]["metrics"]["coherence-cosine/joint"]
    assert oracle["status"] == "ok" and oracle["settings"]["encoder_checkpoint"] == str(root.resolve())
    assert oracle["values"]["cosine"] == pytest.approx(oracle["values"]["cosine_real"], abs=1e-6)
    md = render(build_table("7", [run]), "md")
    line = next(l for l in md.splitlines() if l.startswith("| T->F+L"))
    assert f"{oracle['values']['cosine']:.2f}" in line and line.count("| - ") == 0
