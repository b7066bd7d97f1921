"""Stratified results: who is in which stratum, and each stratum's value against an independent computation on the
stratum's studies (NLTK corpus BLEU, rouge-score, pytorch-fid's Fréchet distance), through a real run."""
import numpy as np
import pandas as pd
import pytest
from nltk.tokenize import wordpunct_tokenize
from nltk.translate.bleu_score import corpus_bleu
from pytorch_fid.fid_score import calculate_frechet_distance
from rouge_score import rouge_scorer

from xgem_bench import strata
from xgem_bench.data import InMemoryDataset, Study
from xgem_bench.data.images import save_png
from xgem_bench.data.manifest import ManifestError, read_manifest
from xgem_bench.runner import run
from xgem_bench.strata_views import forest_plots, stratified_table
from xgem_bench.table_render import render

from reporting_fixtures import make_run

WORDS = "no acute effusion small left pleural the heart size is normal lungs are clear mild edema".split()


def _manifest(tmp_path, n=36, seed=0):
    """A manifest with blank-image studies, reports, labels and metadata, and a predictions CSV for F->T."""
    rng = np.random.default_rng(seed)
    (tmp_path / "img").mkdir()
    save_png(tmp_path / "img" / "f.png", np.zeros((256, 256), np.float32), bits=8)
    rows, hyps = [], []
    for i in range(n):
        rows.append({"study_id": f"s{i:02d}", "frontal": "img/f.png", "lateral": "",
                     "report": " ".join(rng.choice(WORDS, rng.integers(3, 12))),
                     "Pleural Effusion": [1, 0, -1, ""][i % 4], "Edema": 1 if i % 3 == 0 else "",
                     "sex": ["female", "M", ""][i % 3], "age": ["", 35, 64.5, 90][i % 4]})
        hyps.append({"study_id": f"s{i:02d}", "report": " ".join(rng.choice(WORDS, rng.integers(3, 12)))})
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    pd.DataFrame(hyps).to_csv(tmp_path / "hyp.csv", index=False)
    return tmp_path / "manifest.csv", {h["study_id"]: h["report"] for h in hyps}, {r["study_id"]: r["report"]
                                                                                    for r in rows}


def test_membership_reads_positive_labels_age_bands_and_known_metadata(tmp_path):
    path, _, _ = _manifest(tmp_path, n=12)
    dataset = read_manifest(path)
    members = strata.membership(strata.study_attributes(dataset, range(12)))
    assert members["pathology"]["Pleural Effusion"] == ["s00", "s04", "s08"]  # 1 only: not 0, -1 or blank
    assert members["pathology"]["Edema"] == ["s00", "s03", "s06", "s09"]
    assert members["sex"] == {"F": ["s00", "s03", "s06", "s09"], "M": ["s01", "s04", "s07", "s10"]}
    assert members["age"] == {"0-39": ["s01", "s05", "s09"], "60-79": ["s02", "s06", "s10"],
                              "80+": ["s03", "s07", "s11"]}
    assert "view" not in members and "race" not in members  # no study records them


def test_studies_of_any_dataset_are_stratified_by_labels_and_view():
    studies = [Study(f"s{i}", report="x", labels={"Edema": float(i % 2)}, frontal_view=["PA", "AP", ""][i % 3])
               for i in range(6)]
    members = strata.membership(strata.study_attributes(InMemoryDataset(studies), range(6)))
    assert members == {"pathology": {"Edema": ["s1", "s3", "s5"]}, "view": {"AP": ["s1", "s4"], "PA": ["s0", "s3"]}}


def test_bad_age_is_a_clear_error(tmp_path):
    pd.DataFrame([{"study_id": "a", "frontal": "", "lateral": "", "report": "x", "age": "old"}]).to_csv(
        tmp_path / "m.csv", index=False)
    with pytest.raises(ManifestError, match="age at row"):
        read_manifest(tmp_path / "m.csv")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")  # NLTK warns on zero n-gram orders
def test_run_stores_strata_equal_to_upstream_scores_on_each_strata(tmp_path, monkeypatch):
    monkeypatch.setenv("XGEM_BENCH_CACHE", str(tmp_path / "cache"))
    path, hyps, refs = _manifest(tmp_path)
    result = run("F->T", dataset=f"manifest:{path}", predictions={"mine": tmp_path / "hyp.csv"},
                 metrics=["bleu", "rouge"], out=tmp_path / "results", progress=False, strata_min_studies=10)
    summary = result.results["strata"]
    assert summary["status"] == "ok" and summary["by"]["sex"] == {"F": 12, "M": 12}
    frame = pd.read_csv(result.run_dir / "strata.csv", dtype={"stratum": str})
    members = strata.load_strata({**result.results, "run_dir": str(result.run_dir)})[1]
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    for by, groups in members.items():
        for stratum, ids in groups.items():
            rows = frame[(frame["by"] == by) & (frame["stratum"] == stratum)].set_index(["metric", "key"])
            tokens = [(wordpunct_tokenize(hyps[i].lower()), wordpunct_tokenize(refs[i].lower())) for i in ids]
            expected_bleu = corpus_bleu([[r] for _, r in tokens], [h for h, _ in tokens])
            assert rows.loc[("bleu", "bleu4"), "value"] == pytest.approx(expected_bleu, rel=1e-9, abs=1e-12)
            expected_rouge = np.mean([scorer.score(refs[i], hyps[i])["rougeL"].fmeasure for i in ids])
            assert rows.loc[("rouge", "rougeL"), "value"] == pytest.approx(expected_rouge, abs=1e-12)
            assert rows.loc[("rouge", "rougeL"), "n"] == len(ids)
            assert rows.loc[("rouge", "rougeL"), "too_small"] == (len(ids) < 10)
    table = render(stratified_table("extended", [{**result.results, "run_dir": str(result.run_dir)}], "pathology",
                                    ci={"n_resamples": 50, "level": 0.95, "seed": 0}), "md")
    edema = frame[(frame["stratum"] == "Edema") & (frame["key"] == "rougeL")]["value"].item()  # 12 studies: shown
    edema_row = next(line for line in table.splitlines() if line.startswith("| Edema, F->T | mine |"))
    assert f"{edema:.2f} [" in edema_row.split(" | ")[4]  # the ROUGE-L column, with its interval
    assert "| Pleural Effusion, F->T | mine | n<10 | n<10 | n<10 |" in table  # 9 studies: flagged
    figures = forest_plots([{**result.results, "run_dir": str(result.run_dir)}], "pathology", tmp_path / "fig",
                           ["png"], {"n_resamples": 50, "level": 0.95, "seed": 0}, ["rouge"])
    assert [p.name for p in figures] == ["strata-pathology-rouge-F-to-T.png"] and figures[0].stat().st_size > 1000


@pytest.mark.slow
def test_demo_carries_made_up_sex_and_age(tmp_path, monkeypatch):
    from xgem_bench.synthetic.demo import load_demo
    monkeypatch.setenv("XGEM_BENCH_CACHE", str(tmp_path))
    demo = load_demo("seed=0,n=12")
    members = strata.membership(strata.study_attributes(demo, range(len(demo))))
    assert set(members["sex"]) <= {"F", "M"} and sum(map(len, members["sex"].values())) == 12
    assert sum(map(len, members["age"].values())) == 12
    table = demo.table
    assert (table.groupby("subject_id")["sex"].nunique() == 1).all()  # one sex per phantom subject


def test_fid_of_a_stratum_is_recomputed_on_its_studies(tmp_path):
    rng = np.random.default_rng(0)
    n, d = 60, 3
    ids = np.array([f"s{i:02d}" for i in range(n)])
    generated, reference = rng.normal(0.5, 1, (n, d)), rng.normal(0, 1, (n, d))
    run = make_run(tmp_path, "fid", "T->F", {"m": {"metrics": {"fid-xrv/F": (
        {"fid": calculate_frechet_distance(generated.mean(0), np.cov(generated, rowvar=False), reference.mean(0),
                                           np.cov(reference, rowvar=False))}, None, False)}}})
    folder = tmp_path / "fid" / "artifacts" / "m"
    folder.mkdir(parents=True)
    np.savez(folder / "fid-xrv-F.npz", generated_ids=ids, generated=generated, reference_ids=ids,
             reference=reference, meta=np.array("{}"))
    members = {"sex": {"F": ids[:25].tolist(), "M": ids[25:].tolist()}}
    rows, not_stratified = strata.stratified_rows(run, members, min_studies=30)
    assert not not_stratified
    for (_, _, _, key, _, stratum, count, value, too_small), part in zip(rows, (slice(0, 25), slice(25, n))):
        g, r = generated[part], reference[part]  # the stratum's generated AND real images
        expected = calculate_frechet_distance(g.mean(0), np.cov(g, rowvar=False), r.mean(0), np.cov(r, rowvar=False))
        assert key == "fid" and value == pytest.approx(expected, rel=1e-6)
        assert too_small == int(count < 30)


def test_runs_without_strata_say_so(tmp_path):
    run = make_run(tmp_path, "old", "F->T", {"m": {"metrics": {"rouge/T": ({"rougeL": 0.1}, {}, True)}}})
    with pytest.raises(strata.StrataUnavailable, match="run it again"):
        stratified_table("extended", [run], "sex")
    with pytest.raises(ValueError, match="unknown stratifier"):
        stratified_table("extended", [run], "height")
