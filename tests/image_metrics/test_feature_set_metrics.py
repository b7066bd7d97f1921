"""KID, PRDC, FD∞ and memorisation inside `xgem-bench run` on the demo with the real (offline-imported) Inception:
records, the features artefact, values equal to torch-fidelity / prdc on the stored features, intervals and paired
tests resampled from the artefact."""
import numpy as np
import pytest

from xgem_bench import stats
from xgem_bench.recompute import default_test, run_resampleable
from xgem_bench.results import load_run
from xgem_bench.runner import run


@pytest.mark.slow
def test_run_scores_kid_prdc_fd_infinity_and_memorisation_with_inception(inception_weights, tmp_path):
    import torch
    from prdc import compute_prdc
    from torch_fidelity.metric_kid import kid_features_to_metric
    result = run("L+T->F", models=["oracle"], metrics=["kid-inception", "prdc-inception", "fd-infinity-inception",
                                                         "memorisation-image"],
                 limit=6, out=tmp_path / "results", cache_dir=tmp_path / "cache", progress=False, device="cpu",
                 metric_settings={"prdc-inception": {"nearest_k": 2}, "kid-inception": {"subset_size": 4}})
    loaded = load_run(result.run_dir)
    records = loaded["models"]["oracle"]["metrics"]
    assert all(r["status"] == "ok" for r in records.values()), {k: r["reason"] for k, r in records.items()}
    archive = np.load(tmp_path / "results" / loaded["run_id"] / "artifacts" / "oracle" / "kid-inception-F.npz")
    generated, reference = archive["generated"], archive["reference"]
    assert generated.shape == (6, 2048) and len(reference) == 6
    theirs = kid_features_to_metric(torch.from_numpy(generated), torch.from_numpy(reference), kid_subsets=100,
                                    kid_subset_size=4, kid_kernel="poly", kid_kernel_poly_degree=3,
                                    kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1, rng_seed=2020,
                                    verbose=False)
    kid = records["kid-inception/F"]
    assert kid["values"]["kid"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-4, abs=1e-7)
    assert "subset_size:4" in kid["signature"] and kid["settings"]["weights"] == "fid-helper"
    prdc_archive = np.load(tmp_path / "results" / loaded["run_id"] / "artifacts" / "oracle" / "prdc-inception-F.npz")
    expected = compute_prdc(prdc_archive["reference"], prdc_archive["generated"], nearest_k=2)
    for key in ("precision", "recall", "density", "coverage"):
        assert records["prdc-inception/F"]["values"][key] == pytest.approx(float(expected[key])), key
    fd = records["fd-infinity-inception/F"]["values"]
    assert abs(fd["fd"]) < 1e-3  # the oracle returns the real images
    memorised = records["memorisation-image/F"]["values"]
    assert memorised["n_generated"] == 6 and memorised["above_threshold"] < 1  # test studies are not training ones
    # intervals and paired tests resample the stored features (nothing re-extracted); PRDC half-samples (3 studies)
    # need more than nearest_k images
    data = run_resampleable(loaded, "oracle", records["prdc-inception/F"], "coverage")
    interval = stats.bootstrap_ci(data, n_resamples=50)
    assert interval.method == "subsampling" and interval.value == records["prdc-inception/F"]["values"]["coverage"]
    data = run_resampleable(loaded, "oracle", records["kid-inception/F"], "kid")
    assert np.isfinite(stats.bootstrap_ci(data, n_resamples=50).low)
    assert default_test("kid-inception") == "randomisation"
    with pytest.raises(stats.StatsUnavailable, match="not a resampleable value"):
        run_resampleable(loaded, "oracle", records["kid-inception/F"], "n_generated")
    per_study = run_resampleable(loaded, "oracle", records["memorisation-image/F"], "nn_similarity")
    assert len(per_study) == 6


@pytest.mark.slow
def test_memorisation_in_inception_space_detects_copies(inception_weights, tmp_path):
    from test_memorisation import dataset_of, score
    from xgem_bench.tasks import Modality
    from image_fixtures import grey_images
    dataset = dataset_of(n_train=5, n_test=4)
    train = [dataset.load(int(i)).frontal for i in dataset.indices("train")]
    metric, copied = score("memorisation-image", dataset, tmp_path, Modality.FRONTAL, train[:4], space="inception",
                           threshold=0.99)
    assert metric.settings["space_backbone"].startswith("inception|") and metric.settings["space_weights_sha256"]
    assert copied["above_threshold"] == 1.0 and copied["nn_similarity"] > 0.999
    _, fresh = score("memorisation-image", dataset, tmp_path, Modality.FRONTAL,
                     [1 - x for x in grey_images(4, size=48, seed=42)], space="inception", threshold=0.99)
    assert fresh["above_threshold"] == 0.0


def test_each_feature_set_metric_says_which_way_is_better():
    """Tables, `compare` and `validate` read the direction from the class: PRDC's four values are fractions of
    samples that a good model raises; the distances and discrepancies fall (PRDC derives from FID's class, whose
    "lower is better" it must not inherit)."""
    from xgem_bench.metrics import get_metric_class
    for name in ("prdc-inception", "prdc-raddino", "prdc-dinov2"):
        assert get_metric_class(name).higher_is_better is True, name
    for name in ("kid-inception", "fd-infinity-inception", "cmmd-clip", "fid-inception"):
        assert get_metric_class(name).higher_is_better is False, name
