"""Bootstrap intervals and paired tests on synthetic problems whose answer is known."""
import numpy as np
import pytest

from xgem_bench import stats
from xgem_bench.metrics.fid_resampling import fid_of_samples
from xgem_bench.recompute import run_resampleable


def test_bootstrap_interval_covers_true_mean_at_nominal_rate():
    rng = np.random.default_rng(123)
    true_mean, hits, trials = 2.0, 0, 300
    for t in range(trials):
        x = rng.normal(true_mean, 1.0, size=60)
        ci = stats.bootstrap_ci(stats.mean_of(x, [f"s{i}" for i in range(60)]), n_resamples=400, seed=t)
        hits += ci.low <= true_mean <= ci.high
    coverage = hits / trials
    # percentile bootstrap at n=60: close to nominal (binomial s.e. at 300 trials is about 0.013)
    assert 0.90 <= coverage <= 0.985, coverage


def test_bootstrap_interval_of_non_mean_statistic_covers_true_variance():
    rng = np.random.default_rng(7)
    hits, trials = 0, 200
    for t in range(trials):
        x = rng.normal(0.0, 2.0, size=(150, 1))  # true variance 4
        data = stats.Resampleable(np.arange(150).astype(str), x, lambda rows: float(np.var(rows, ddof=1)))
        ci = stats.bootstrap_ci(data, n_resamples=300, seed=t)
        hits += ci.low <= 4.0 <= ci.high
    assert 0.85 <= hits / trials <= 0.99


def test_interval_records_settings_and_value():
    x = np.arange(10.0)
    ci = stats.bootstrap_ci(stats.mean_of(x, list("abcdefghij")), n_resamples=50, seed=5, level=0.9)
    assert ci.value == pytest.approx(4.5)
    assert (ci.n_resamples, ci.seed, ci.level, ci.n_studies) == (50, 5, 0.9, 10)
    assert ci.low <= 4.5 <= ci.high
    again = stats.bootstrap_ci(stats.mean_of(x, list("abcdefghij")), n_resamples=50, seed=5, level=0.9)
    assert (again.low, again.high) == (ci.low, ci.high)


def _pair(rng, n, shift):
    study_effect = rng.normal(0, 1.0, size=n)
    ids = [f"s{i}" for i in range(n)]
    a = study_effect + shift + rng.normal(0, 0.3, size=n)
    b = study_effect + rng.normal(0, 0.3, size=n)
    return stats.mean_of(a, ids), stats.mean_of(b, ids)


@pytest.mark.parametrize("test", ["bootstrap", "randomisation"])
def test_paired_test_detects_planted_difference(test):
    a, b = _pair(np.random.default_rng(0), 80, shift=0.25)
    result = stats.PAIRED_TESTS[test](a, b, n_resamples=500, seed=1)
    assert result.difference == pytest.approx(a.value() - b.value())
    assert result.p_value < 0.01


@pytest.mark.parametrize("test", ["bootstrap", "randomisation"])
def test_paired_test_false_positive_rate_under_null_is_near_nominal(test):
    rng = np.random.default_rng(1)
    rejections, trials = 0, 80
    for t in range(trials):
        a, b = _pair(rng, 40, shift=0.0)
        rejections += stats.PAIRED_TESTS[test](a, b, n_resamples=200, seed=t).p_value < 0.05
    assert rejections / trials <= 0.125


def test_paired_tests_use_only_shared_studies_in_the_same_order():
    a = stats.mean_of([1.0, 2.0, 3.0, 100.0], ["a", "b", "c", "only-a"])
    b = stats.mean_of([3.0, 1.0, 2.0], ["c", "a", "b"])
    result = stats.paired_bootstrap(a, b, n_resamples=100)
    assert result.n_studies == 3 and result.difference == pytest.approx(0.0)
    assert result.p_value > 0.5


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="unique"):
        stats.mean_of([1.0, 2.0], ["a", "a"])
    with pytest.raises(ValueError, match="at least 2"):
        stats.bootstrap_ci(stats.mean_of([1.0], ["a"]))
    with pytest.raises(ValueError, match="share 0"):
        stats.paired_bootstrap(stats.mean_of([1.0, 2.0], ["a", "b"]), stats.mean_of([1.0, 2.0], ["c", "d"]))
    with pytest.raises(ValueError, match="level"):
        stats.bootstrap_ci(stats.mean_of([1.0, 2.0], ["a", "b"]), level=95)


def _fid_run(tmp_path, shift, n=300, d=3, seed=0, same_studies=True):
    """A run whose FID artefact follows the FID metric's documented layout, and the FID stored from it."""
    from reporting_fixtures import make_run
    from xgem_bench.metrics.fid import frechet_distance
    rng = np.random.default_rng(seed)
    ids = np.array([f"s{i:03d}" for i in range(n)])
    generated = rng.normal(shift, 1.0, size=(n, d)).astype(np.float32)
    reference = rng.normal(0.0, 1.0, size=(n, d)).astype(np.float32)
    reference_ids = ids if same_studies else np.array([f"r{i}" for i in range(n)])
    g, r = generated.astype(np.float64), reference.astype(np.float64)
    fid = frechet_distance(g.mean(0), np.cov(g, rowvar=False), r.mean(0), np.cov(r, rowvar=False))
    run = make_run(tmp_path, f"fid-{shift}-{seed}", "T->F",
                   {"m": {"metrics": {"fid-xrv/F": ({"fid": fid, "n_generated": float(n)}, None, False)}}})
    folder = tmp_path / run["run_id"] / "artifacts" / "m"
    folder.mkdir(parents=True)
    np.savez(folder / "fid-xrv-F.npz", generated_ids=ids, generated=generated, reference_ids=reference_ids,
             reference=reference, meta=np.array("{}"))
    return run, fid


@pytest.mark.parametrize("same_studies", [True, False])
def test_fid_interval_is_recomputed_from_cached_features(tmp_path, same_studies):
    run, fid = _fid_run(tmp_path, shift=1.0, same_studies=same_studies)
    record = run["models"]["m"]["metrics"]["fid-xrv/F"]
    data = run_resampleable(run, "m", record, "fid")
    assert data.value() == pytest.approx(fid, rel=1e-6)
    assert data.rows.shape == ((300, 6) if same_studies else (300, 3))
    ci = stats.bootstrap_ci(data, n_resamples=200, seed=0)
    # true FID between N(1, I) and N(0, I) in 3 dimensions is 3
    assert ci.low < 3.0 < ci.high and ci.high - ci.low < 2.0
    with pytest.raises(stats.StatsUnavailable, match="count"):
        run_resampleable(run, "m", record, "n_generated")


def test_fid_paired_test_between_models_on_the_same_studies(tmp_path):
    better, _ = _fid_run(tmp_path, shift=0.5, seed=1)
    worse, _ = _fid_run(tmp_path, shift=1.0, seed=1)
    a = run_resampleable(better, "m", better["models"]["m"]["metrics"]["fid-xrv/F"], "fid")
    b = run_resampleable(worse, "m", worse["models"]["m"]["metrics"]["fid-xrv/F"], "fid")
    result = stats.approximate_randomisation(a, b, n_resamples=200, seed=0)
    assert result.difference < 0 and result.p_value < 0.01


def test_mean_metric_refuses_rows_that_do_not_reproduce_the_aggregate(tmp_path):
    from reporting_fixtures import make_run
    rows = {"a": {"x": 1.0}, "b": {"x": 3.0}}
    run = make_run(tmp_path, "r", "F->T", {"m": {"metrics": {"token-f1/T": ({"x": 5.0}, rows, True)}}})
    with pytest.raises(stats.StatsUnavailable, match="not the stored 5"):
        run_resampleable(run, "m", run["models"]["m"]["metrics"]["token-f1/T"], "x")


def test_corpus_bleu_interval_resamples_ngram_counts(tmp_path):
    from reporting_fixtures import make_run
    from xgem_bench.metrics.bleu import bleu, pair_stats, sentence_scores, stat_keys
    from xgem_bench.text import TextNormalization
    hyps = ["no acute cardiopulmonary process", "small left pleural effusion", "heart size is normal",
            "no pneumothorax", "mild pulmonary edema is seen"] * 4
    refs = ["no acute cardiopulmonary abnormality", "small left effusion", "the heart size is normal",
            "no pneumothorax is seen", "pulmonary edema"] * 4
    norm = TextNormalization()
    rows = {}
    for i, (h, r) in enumerate(zip(hyps, refs)):
        counts = pair_stats(norm.tokens(h), [norm.tokens(r)], 4)
        rows[f"s{i}"] = {**dict(zip(stat_keys(4), map(float, counts))),
                         **{f"bleu{n}": float(v) for n, v in enumerate(sentence_scores(counts[None])[0], 1)}}
    values = bleu(hyps, refs)
    settings = {"convention": "nltk-corpus", "smoothing": "none", "max_n": 4}
    run = make_run(tmp_path, "b", "F->T", {"m": {"metrics": {"bleu/T": (values, rows, True)},
                                                  "settings": {"bleu": settings}}})
    data = run_resampleable(run, "m", run["models"]["m"]["metrics"]["bleu/T"], "bleu2")
    assert data.value() == pytest.approx(values["bleu2"])
    assert data.value() != pytest.approx(np.mean([r["bleu2"] for r in rows.values()]))  # corpus, not a mean
    ci = stats.bootstrap_ci(data, n_resamples=100)
    assert ci.low <= values["bleu2"] <= ci.high


def test_compare_command_reports_p_value_seed_and_resamples(tmp_path):
    import json

    from reporting_fixtures import make_run, mean_metric
    from typer.testing import CliRunner

    from xgem_bench.cli import app
    rng = np.random.default_rng(0)
    joint = mean_metric(rng, 40, 0.65, "cosine")
    independent = ({"cosine": 0.0}, {s: {"cosine": v["cosine"] - 0.05 + rng.normal(0, 0.01)}
                                     for s, v in joint[1].items()}, True)
    independent[0]["cosine"] = float(np.mean([v["cosine"] for v in independent[1].values()]))
    run = make_run(tmp_path, "j", "T->F+L", {"xgem": {"metrics": {"coherence-cosine/joint": joint}},
                                             "xgem-independent": {"metrics": {"coherence-cosine/joint": independent}}})
    done = CliRunner().invoke(app, ["compare", run["run_dir"], "--task", "T->F+L", "--metric", "coherence-cosine",
                                    "--a", "xgem", "--b", "xgem-independent", "--test", "randomisation",
                                    "--resamples", "300", "--seed", "4"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.output)
    assert result["key"] == "cosine" and result["n_resamples"] == 300 and result["seed"] == 4
    assert result["difference"] == pytest.approx(0.05, abs=0.01) and result["p_value"] < 0.01
    done = CliRunner().invoke(app, ["compare", run["run_dir"], "--task", "T->F+L", "--metric", "coherence-cosine",
                                    "--a", "xgem", "--b", "nobody"])
    assert done.exit_code == 2 and "no successful coherence-cosine result for model 'nobody'" in done.output


def test_chexpert_f1_interval_recomputes_from_per_study_labels(tmp_path):
    from reporting_fixtures import make_run
    from xgem_bench.data.study import CHEXPERT_LABELS
    from xgem_bench.metrics.chexpert_f1 import CheXpertF1, f1_scores
    rng = np.random.default_rng(0)
    ref = rng.choice([1.0, 0.0, -1.0, np.nan], size=(60, 14), p=[0.3, 0.2, 0.1, 0.4])
    gen = np.where(rng.random((60, 14)) < 0.7, ref, rng.choice([1.0, 0.0, np.nan], size=(60, 14)))
    settings = CheXpertF1.default_settings()
    values = f1_scores(gen, ref, settings["uncertain"], settings["blank"], settings["average_over"])
    rows = {f"s{i}": {**{f"gen/{n}": g for n, g in zip(CHEXPERT_LABELS, gen[i])},
                      **{f"ref/{n}": r for n, r in zip(CHEXPERT_LABELS, ref[i])}} for i in range(60)}
    run = make_run(tmp_path, "c", "F->T", {"m": {"metrics": {"chexpert-f1/T": (values, rows, True)},
                                                  "settings": {"chexpert-f1": settings}}})
    record = run["models"]["m"]["metrics"]["chexpert-f1/T"]
    for key in ("f1_micro", "f1_macro", "f1/Edema"):
        data = run_resampleable(run, "m", record, key)
        assert data.value() == pytest.approx(values[key])
        ci = stats.bootstrap_ci(data, n_resamples=100)
        assert ci.low <= values[key] <= ci.high


@pytest.mark.slow
def test_fid_interval_from_a_real_fid_run(tmp_path, tiny_xrv):
    """The FID metric's own artefact (random XRV DenseNet in the upstream cache format) feeds the bootstrap."""
    from test_reporting_tables import _dataset

    from xgem_bench.results import load_run
    from xgem_bench.runner import Runner
    result = Runner("T->F", models=["oracle", "shuffled"], dataset=_dataset(16), metrics=["fid-xrv"],
                    out=tmp_path / "out", cache_dir=tmp_path / "cache", progress=False).run()
    run = load_run(result.run_dir)
    for model in ("oracle", "shuffled"):
        record = run["models"][model]["metrics"]["fid-xrv/F"]
        data = run_resampleable(run, model, record, "fid")
        assert data.rows.shape == (8, 2048)  # generated and real features of each test study
        interval = stats.bootstrap_ci(data, n_resamples=3)
        assert np.isfinite([interval.low, interval.high]).all()


def test_xrv_classification_intervals_need_per_study_truth(tmp_path):
    from reporting_fixtures import make_run
    from xgem_bench.data.study import PAPER_PATHOLOGIES
    from xgem_bench.metrics.xrv_classification import classification_scores
    rng = np.random.default_rng(0)
    y = rng.choice([1.0, 0.0, np.nan], size=(80, 10), p=[0.3, 0.5, 0.2])
    p = np.clip(0.5 * np.nan_to_num(y) + rng.random((80, 10)) * 0.6, 0, 1)
    values = classification_scores(y, p)
    rows = {f"s{i}": {**{f"p/{l}": p[i, j] for j, l in enumerate(PAPER_PATHOLOGIES)},
                      **{f"y/{l}": y[i, j] for j, l in enumerate(PAPER_PATHOLOGIES)}} for i in range(80)}
    run = make_run(tmp_path, "x", "T->F", {"m": {"metrics": {"xrv-classification/F": (values, rows, True)}}})
    record = run["models"]["m"]["metrics"]["xrv-classification/F"]
    for key in ("auc_macro", "f1_micro", "auc/Edema"):
        data = run_resampleable(run, "m", record, key)
        assert data.value() == pytest.approx(values[key])
        ci = stats.bootstrap_ci(data, n_resamples=50)
        assert ci.low <= values[key] <= ci.high
    scores_only = {s: {k: v for k, v in r.items() if k.startswith("p/")} for s, r in rows.items()}
    run = make_run(tmp_path, "x2", "T->F", {"m": {"metrics": {"xrv-classification/F": (values, scores_only, True)}}})
    with pytest.raises(stats.StatsUnavailable, match="ground truth"):
        run_resampleable(run, "m", run["models"]["m"]["metrics"]["xrv-classification/F"], "auc_macro")


@pytest.mark.parametrize("n, m", [(20, 30), (40, 40), (200, 100)])
def test_fid_of_small_samples_equals_the_fid_metric_distance(n, m):
    from xgem_bench.metrics.fid import frechet_distance
    rng = np.random.default_rng(n)
    d = 64
    gen = rng.normal(0.3, 1.0, size=(n, d)) @ rng.normal(size=(d, d)) * 0.2
    ref = rng.normal(0.0, 1.0, size=(m, d))
    expected = frechet_distance(gen.mean(0), np.cov(gen, rowvar=False), ref.mean(0), np.cov(ref, rowvar=False))
    assert fid_of_samples(gen, ref) == pytest.approx(expected, rel=1e-6)
