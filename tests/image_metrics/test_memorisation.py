"""Memorisation of training images and reports: copies are detected (share -> 1), independent samples are not; the
n-gram index gives what a brute-force comparison with every training report gives."""
import numpy as np
import pytest

from xgem_bench.data.dataset import InMemoryDataset
from xgem_bench.data.study import Study
from xgem_bench.metrics import MetricContext, Sample, get_metric_class
from xgem_bench.metrics.memorisation_report import NgramIndex, longest_common_span, ngrams
from xgem_bench.tasks import Modality, parse_task
from xgem_bench.text import DEFAULT

from image_fixtures import grey_images

WORDS = ("left right upper lower lobe effusion pneumothorax opacity consolidation heart size normal mild moderate "
         "small large no acute process stable unchanged lines tubes atelectasis edema basilar").split()


def random_report(rng, length=20):
    return " ".join(rng.choice(WORDS, size=length)) + "."


def dataset_of(n_train=12, n_test=6, size=48, seed=0):
    rng = np.random.default_rng(seed)
    images = grey_images(n_train + n_test, size=size, seed=seed)
    studies = [Study(study_id=f"s{i}", frontal=image, report=random_report(rng),
                     split="train" if i < n_train else "test") for i, image in enumerate(images)]
    return InMemoryDataset(studies, name="memorisation")


def context(dataset, tmp_path, modality):
    return MetricContext(task=parse_task("T->F" if modality.is_image else "F->T"), modality=modality,
                         dataset=dataset, split="test", reference_indices=dataset.indices("test"),
                         cache_dir=tmp_path / "cache", artifact_dir=tmp_path / "artifacts", batch_size=4)


def score(name, dataset, tmp_path, modality, generated, **settings):
    metric = get_metric_class(name)(context(dataset, tmp_path, modality), **settings)
    samples = [Sample(dataset.load(int(i)), {modality: g}) for i, g in zip(dataset.indices("test"), generated)]
    metric.update(samples[:3])
    metric.update(samples[3:])
    return metric, metric.compute()


def test_pixel_memorisation_detects_copies_of_training_images_not_independent_ones(tmp_path):
    from PIL import Image
    dataset = dataset_of()
    train = [dataset.load(int(i)).frontal for i in dataset.indices("train")]
    # copies up to brightness/contrast and 8-bit rounding are copies
    copies = [np.clip(0.8 * train[i] + 0.1, 0, 1) for i in range(6)]
    _, copied = score("memorisation-image", dataset, tmp_path, Modality.FRONTAL, copies)
    assert copied["above_threshold"] == 1.0 and copied["nn_similarity"] > 0.99
    independent = grey_images(6, size=48, seed=99)
    _, fresh = score("memorisation-image", dataset, tmp_path, Modality.FRONTAL, independent)
    assert fresh["above_threshold"] == 0.0 and fresh["nn_similarity"] < 0.9
    grid = Image.open(tmp_path / "artifacts" / "memorisation-image-pixel-F.png")
    assert grid.size == (256, 6 * (128 + 14))  # six pairs (fewer studies than grid_pairs)


def test_pixel_similarity_is_the_pearson_correlation_of_the_resized_images(tmp_path):
    import torch
    import torch.nn.functional as F
    from xgem_bench.metrics.memorisation_image import pixel_embedding
    a, b = grey_images(2, size=48, seed=3)
    small = [F.interpolate(torch.from_numpy(x)[None, None], size=(16, 16), mode="area").flatten().numpy()
             for x in (a, b)]
    expected = np.corrcoef(small[0], small[1])[0, 1]
    rows = pixel_embedding([a, b], 16)
    assert float(rows[0] @ rows[1]) == pytest.approx(expected, abs=1e-5)


def test_report_memorisation_detects_copies_and_not_independent_reports(tmp_path):
    dataset = dataset_of()
    train = [dataset.load(int(i)).report for i in dataset.indices("train")]
    _, copied = score("memorisation-report", dataset, tmp_path, Modality.REPORT,
                      [r.upper().replace(" ", "  ") for r in train[:6]])  # same tokens after normalisation
    assert copied["exact_copy"] == 1.0 and copied["ngram_overlap"] == 1.0 and copied["near_copy"] == 1.0
    assert copied["longest_shared_span"] == pytest.approx(np.mean([len(DEFAULT.tokens(r)) for r in train[:6]]))
    rng = np.random.default_rng(123)
    _, fresh = score("memorisation-report", dataset, tmp_path, Modality.REPORT,
                     [random_report(rng) for _ in range(6)])
    assert fresh["exact_copy"] == 0.0 and fresh["near_copy"] == 0.0 and fresh["ngram_overlap"] < 0.3


def test_ngram_index_equals_brute_force_over_every_training_report():
    rng = np.random.default_rng(5)
    small = WORDS[:6]  # a small vocabulary: many shared n-grams
    training = [list(rng.choice(small, size=rng.integers(3, 25))) for _ in range(200)]
    index = NgramIndex(training, n=3)
    for _ in range(40):
        query = list(rng.choice(small, size=rng.integers(0, 25)))
        grams = ngrams(query, 3)
        brute = max((len(grams & ngrams(t, 3)) / len(grams) for t in training), default=0.0) if grams else 0.0
        overlap, best = index.closest(query)
        assert overlap == pytest.approx(brute)
        if best >= 0:
            assert len(grams & ngrams(training[best], 3)) / len(grams) == pytest.approx(brute)


def test_longest_common_span_against_difflib():
    from difflib import SequenceMatcher
    rng = np.random.default_rng(6)
    for _ in range(30):
        a, b = list(rng.choice(WORDS[:4], size=15)), list(rng.choice(WORDS[:4], size=12))
        match = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
        assert longest_common_span(a, b) == match.size


def test_score_reports_reads_the_training_reports_from_a_csv(tmp_path):
    from xgem_bench.report_scores import score_reports
    training = tmp_path / "train.csv"
    training.write_text("id,report\na,No acute process.\nb,Small left effusion is unchanged since the prior study.\n")
    pairs = [("x", "small left effusion is unchanged since the prior", "ref"), ("y", "No acute process.", "ref"),
             ("z", "Heart size normal.", "ref")]
    summary, rows = score_reports(pairs, ["memorisation-report"],
                                  {"memorisation-report": {"training_reports": str(training)}})
    record = summary["metrics"]["memorisation-report"]
    assert record["status"] == "ok" and len(record["settings"]["training_reports_sha256"]) == 64
    # x: its 4 distinct 4-grams are all in b; y: an exact copy (4-grams: "no acute process ." is its only one)
    per = {(sid, key): value for sid, _, key, value in rows}
    assert per[("x", "ngram_overlap")] == 1.0 and per[("x", "exact_copy")] == 0.0
    assert per[("y", "exact_copy")] == 1.0 and per[("z", "ngram_overlap")] == 0.0
    assert record["values"]["exact_copy"] == pytest.approx(1 / 3)
    summary, _ = score_reports(pairs, ["memorisation-report"])
    assert "training_reports=PATH" in summary["metrics"]["memorisation-report"]["reason"]


def test_an_exact_copy_shorter_than_n_is_a_full_overlap():
    index = NgramIndex([["no", "change"], ["small", "left", "effusion", "again", "seen"]], n=4)
    assert index.scores(["no", "change"], 0.8) == {"exact_copy": 1.0, "ngram_overlap": 1.0, "near_copy": 1.0,
                                                   "longest_shared_span": 2.0}
    assert index.scores(["no"], 0.8)["ngram_overlap"] == 0.0
