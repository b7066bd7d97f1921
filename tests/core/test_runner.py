import json

import numpy as np
import pandas as pd
import pytest
from core_fixtures import FlakyAdapter, tiny_dataset

from xgem_bench.adapters import BUILTIN_ADAPTERS
from xgem_bench.data import InMemoryDataset, Study
from xgem_bench.results import list_runs, load_run, load_per_sample
from xgem_bench.runner import RunError, run


@pytest.fixture
def flaky(monkeypatch):
    monkeypatch.setitem(BUILTIN_ADAPTERS, "flaky", "core_fixtures:FlakyAdapter")
    FlakyAdapter.calls = []


def test_oracle_and_shuffled_bracket_paired_metrics(tmp_path):
    ds = tiny_dataset()
    res = run("L+T->F", models=["oracle", "shuffled"], dataset=ds, out=tmp_path, progress=False).results
    oracle, shuffled = res["models"]["oracle"], res["models"]["shuffled"]
    assert oracle["metrics"]["pixel-mae/F"]["values"]["pixel_mae"] == 0.0
    assert shuffled["metrics"]["pixel-mae/F"]["values"]["pixel_mae"] > 0.05
    assert oracle["n_generated"] == shuffled["n_generated"] == res["dataset"]["n_evaluated"] == 12
    text = run("F->T", models="oracle,shuffled", dataset=ds, out=tmp_path, progress=False).results
    assert text["models"]["oracle"]["metrics"]["token-f1/T"]["values"]["token_f1"] == 1.0
    assert text["models"]["shuffled"]["metrics"]["token-f1/T"]["values"]["token_f1"] < 1.0


def test_results_store_is_complete(tmp_path):
    result = run("F->L+T", models=["oracle"], dataset=tiny_dataset(), out=tmp_path, seed=3, progress=False,
                 metrics=["pixel-mae", "token-f1"])
    stored = load_run(result.run_dir)
    assert stored["task"] == "F->L+T" and stored["seed"] == 3
    assert stored["dataset"]["fingerprint"] == tiny_dataset().fingerprint()
    assert stored["provenance"]["packages"]["torch"] and "commit" in stored["provenance"]["git"]
    metrics = stored["models"]["oracle"]["metrics"]
    assert set(metrics) == {"pixel-mae/L", "token-f1/T"}
    assert metrics["pixel-mae/L"]["signature"] == "pixel-mae"
    per_sample = load_per_sample(result.run_dir)
    assert len(per_sample) == 2 * 12 and set(per_sample.metric) == {"pixel-mae", "token-f1"}
    assert per_sample[per_sample.metric == "token-f1"].value.mean() == pytest.approx(1.0)
    generation = pd.read_csv(result.run_dir / "generation.csv", dtype={"study_id": str})
    assert (generation.status == "ok").all() and len(generation) == 12
    assert [r["run_id"] for r in list_runs(tmp_path)] == [result.run_dir.name]


def test_adapter_failures_are_recorded_and_the_run_goes_on(tmp_path, flaky):
    res = run("T->F", models=["flaky"], dataset=tiny_dataset(40), split="all", out=tmp_path, batch_size=5,
              progress=False)
    entry = res.results["models"]["flaky"]
    failed = {f["study_id"]: f["error"] for f in entry["failures"]}
    assert set(failed) == {f"s{i:03d}" for i in range(40) if str(i)[-1] in "357"}
    assert all("RuntimeError: cannot generate" in failed[s] for s in failed if s[-1] == "3")
    assert all("StudyFailure: no output" in failed[s] for s in failed if s[-1] == "7")
    assert all("invalid output" in failed[s] for s in failed if s[-1] == "5")
    assert entry["n_generated"] == 40 - len(failed)
    assert entry["metrics"]["pixel-mae/F"]["values"]["n"] == entry["n_generated"]


def test_killed_run_resumes_from_cache_and_force_regenerates(tmp_path, flaky):
    ds = tiny_dataset(20)
    run("T->F", models=["flaky"], dataset=ds, split="all", out=tmp_path, limit=8, batch_size=4, progress=False)
    first_calls = set(FlakyAdapter.calls)
    FlakyAdapter.calls = []
    res = run("T->F", models=["flaky"], dataset=ds, split="all", out=tmp_path, batch_size=4, progress=False)
    # the 8 studies done before are not regenerated, only the failed ones are retried
    done_before = {s for s in first_calls if s[-1] not in "357"}
    assert not done_before & set(FlakyAdapter.calls)
    assert res.results["models"]["flaky"]["n_generated"] == 20 - 6
    FlakyAdapter.calls = []
    run("T->F", models=["flaky"], dataset=ds, split="all", out=tmp_path, force=True, batch_size=4, progress=False)
    assert done_before <= set(FlakyAdapter.calls)


def test_same_seed_same_outputs_across_batch_sizes(tmp_path, flaky):
    ds = tiny_dataset(12)
    a = run("T->F", models=["flaky"], dataset=ds, split="all", out=tmp_path / "a", batch_size=2, progress=False,
            cache_dir=tmp_path / "c1")
    b = run("T->F", models=["flaky"], dataset=ds, split="all", out=tmp_path / "b", batch_size=5, progress=False,
            cache_dir=tmp_path / "c2")
    va = a.results["models"]["flaky"]["metrics"]["pixel-mae/F"]["values"]["pixel_mae"]
    vb = b.results["models"]["flaky"]["metrics"]["pixel-mae/F"]["values"]["pixel_mae"]
    assert va == pytest.approx(vb, rel=1e-12)


def test_studies_missing_a_needed_modality_are_skipped_and_counted(tmp_path):
    ds = tiny_dataset(12)
    studies = [ds.load(i) for i in range(len(ds))]
    studies[2].report = "   "  # studies 2, 3 are in the test split
    studies[3].lateral = None
    res = run("L+T->F", models=["oracle"], dataset=InMemoryDataset(studies), split="test", out=tmp_path,
              progress=False).results
    assert res["dataset"]["missing_modality"] == {"F": 0, "L": 1, "T": 1}
    assert res["dataset"]["n_evaluated"] == 6 - 2


def test_bad_arguments_fail_clearly(tmp_path):
    ds = tiny_dataset()
    with pytest.raises(KeyError, match="Did you mean oracle"):
        run("T->F", models=["orcle"], dataset=ds, out=tmp_path)
    with pytest.raises(KeyError, match="unknown metric 'pixel-ma'.*pixel-mae"):
        run("T->F", metrics=["pixel-ma"], dataset=ds, out=tmp_path)
    with pytest.raises(RunError, match="scores no output of task T->F"):
        run("T->F", metrics=["token-f1"], dataset=ds, out=tmp_path)
    with pytest.raises(ValueError, match="has no split 'validate'"):
        run("T->F", dataset=ds, split="validate", out=tmp_path)
    with pytest.raises(RunError, match="no setting"):  # checked before the run folder exists
        run("T->F", models=["retrieval"], model_settings={"retrieval": {"k": 3}}, dataset=ds, out=tmp_path)


def test_output_that_is_a_file_is_refused(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("not a folder")
    with pytest.raises(RunError, match="choose a writable --out"):
        run("T->F", models=["oracle"], dataset=tiny_dataset(), out=blocker, progress=False)


def test_retrieval_returns_the_nearest_training_study(tmp_path):
    ds = tiny_dataset(24)
    studies = [ds.load(i) for i in range(len(ds))]
    train = [s for s in studies if s.split == "train"]
    # each test study's inputs copy one training study's inputs (slightly perturbed); its outputs differ
    for k, s in enumerate(s for s in studies if s.split == "test"):
        twin = train[(5 * k) % len(train)]
        s.lateral = np.clip(twin.lateral + 0.01, 0, 1)
        s.report = twin.report
        s.labels = {"twin": twin.study_id}
    ds = InMemoryDataset(studies)
    res = run("L+T->F", models=["retrieval", "oracle"], dataset=ds, out=tmp_path, progress=False)
    per = load_per_sample(res.run_dir)
    assert per[per.model == "retrieval"].value.max() > 0  # it returns training images, not the study's own
    from xgem_bench.adapters.retrieval import RetrievalAdapter
    from xgem_bench.adapters.base import AdapterContext
    from xgem_bench.tasks import parse_task
    adapter = RetrievalAdapter()
    adapter.setup(AdapterContext(dataset=ds))
    tests = [s for s in studies if s.split == "test"]
    outputs = adapter.generate([s.only(parse_task("L+T->F").inputs) for s in tests], parse_task("L+T->F"),
                               [0] * len(tests))
    for study, out in zip(tests, outputs):
        twin = next(t for t in train if t.study_id == study.labels["twin"])
        np.testing.assert_array_equal(out[parse_task("T->F").outputs[0]], twin.frontal)


def test_results_json_is_plain_json(tmp_path):
    result = run("T->F", models=["oracle"], dataset=tiny_dataset(), out=tmp_path, progress=False)
    json.loads((result.run_dir / "results.json").read_text())


def test_a_metric_that_finds_itself_unavailable_is_skipped_and_a_broken_one_failed(tmp_path, monkeypatch):
    from xgem_bench.metrics import METRICS, MetricUnavailable
    from xgem_bench.metrics.pixel_mae import PixelMAE

    class NeedsOtherView(PixelMAE):
        def update(self, samples):
            raise MetricUnavailable("scores frontal views only")

    class Broken(PixelMAE):
        def compute(self):
            raise ZeroDivisionError("boom")

    import core_fixtures
    monkeypatch.setattr(core_fixtures, "NeedsOtherView", NeedsOtherView, raising=False)
    monkeypatch.setattr(core_fixtures, "Broken", Broken, raising=False)
    monkeypatch.setitem(METRICS, "needs-other-view", "core_fixtures:NeedsOtherView")
    monkeypatch.setitem(METRICS, "broken", "core_fixtures:Broken")
    res = run("T->L", models=["oracle"], metrics=["needs-other-view", "broken", "pixel-mae"], dataset=tiny_dataset(),
              out=tmp_path, progress=False).results
    metrics = res["models"]["oracle"]["metrics"]
    assert metrics["needs-other-view/L"]["status"] == "skipped"
    assert metrics["needs-other-view/L"]["reason"] == "scores frontal views only"
    assert metrics["broken/L"]["status"] == "failed" and "ZeroDivisionError: boom" in metrics["broken/L"]["reason"]
    assert metrics["pixel-mae/L"]["values"]["pixel_mae"] == 0.0


def test_cached_outputs_are_not_reused_when_the_data_behind_a_study_id_changes(tmp_path):
    """Same study ids, other pixels (another dataset, or data re-preprocessed): the cache must not answer."""
    before, after = tiny_dataset(12, seed=0), tiny_dataset(12, seed=1)
    assert before.study_ids == after.study_ids and before.fingerprint() != after.fingerprint()
    first = run("T->F", models=["oracle"], dataset=before, out=tmp_path, cache_dir=tmp_path / "cache",
                progress=False).results["models"]["oracle"]
    second = run("T->F", models=["oracle"], dataset=after, out=tmp_path, cache_dir=tmp_path / "cache",
                 progress=False).results["models"]["oracle"]
    assert second["cache_folder"] != first["cache_folder"]
    assert second["metrics"]["pixel-mae/F"]["values"]["pixel_mae"] == 0.0
    again = run("T->F", models=["oracle"], dataset=tiny_dataset(12, seed=0), out=tmp_path,
                cache_dir=tmp_path / "cache", progress=False).results["models"]["oracle"]
    assert again["cache_folder"] == first["cache_folder"]
