"""Metric and dataset plug-ins, as docs/plugins.md writes them: the guide's code blocks installed as a package with
their entry points (tests/plugin_dist.py), then found by name by the registry, the runner, the CLI and
score-reports. The expected values are counted by hand from the texts, not taken from our code."""
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from plugin_dist import install_entry_points
from xgem_bench.cli import app
from xgem_bench.data import Study, load_dataset
from xgem_bench.metrics import MetricContext, Sample, get_metric_class
from xgem_bench.runner import run
from xgem_bench.tasks import Modality, parse_task

GUIDE = (Path(__file__).parents[2] / "docs" / "plugins.md").read_text()


def _block(after: str) -> str:
    """The first python block following the line that names `after` in the guide."""
    return re.search(re.escape(after) + r".*?```python\n(.*?)```", GUIDE, re.S).group(1)


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """Both example packages of the guide, with the entry points its pyproject.toml snippets declare."""
    groups = {"xgem_bench.metrics": {"word-count-gap": "xgem_bench_word_gap.metric:WordCountGap"},
              "xgem_bench.datasets": {"stripes": "xgem_bench_stripes.dataset:load_stripes"}}
    for (group, entries), (package, module) in zip(groups.items(), [("xgem_bench_word_gap", "metric"),
                                                                    ("xgem_bench_stripes", "dataset")]):
        (name, value), = entries.items()
        assert f'[project.entry-points."{group}"]\n{name} = "{value}"' in GUIDE
        folder = tmp_path / "src" / package
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text("")
        (folder / f"{module}.py").write_text(_block(f"has `{package}/{module}.py`"))
    site = install_entry_points(tmp_path / "site", "xgem-bench-guide-examples", groups)
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    monkeypatch.syspath_prepend(str(site))


def _score(metric, pairs):
    metric.update([Sample(study=Study(study_id=f"s{i}", report=ref), generated={Modality.REPORT: gen})
                   for i, (gen, ref) in enumerate(pairs)])
    return metric.compute()


def test_the_metric_plugin_scores_by_its_settings(plugins):
    cls = get_metric_class("word-count-gap")
    context = MetricContext(task=parse_task("F->T"), modality=Modality.REPORT)
    pairs = [("no acute disease", "normal"), ("small left effusion", "small left pleural effusion noted")]
    # words: |3 - 1| = 2 and |3 - 5| = 2 -> 2.0; characters: |16 - 6| = 10 and |19 - 33| = 14 -> 12.0
    assert _score(cls(context), pairs)["word_count_gap"] == 2.0
    metric = cls(context, unit="characters")
    assert _score(metric, pairs)["word_count_gap"] == 12.0
    assert metric.signature == "word-count-gap|unit:characters"
    with pytest.raises(ValueError, match="unit='syllables' is not one of words, characters"):
        cls(context, unit="syllables")
    with pytest.raises(KeyError, match="Did you mean word-count-gap"):
        get_metric_class("word-count-gp")


def test_the_dataset_plugin_loads_by_spec_and_refuses_bad_arguments(plugins):
    data = load_dataset("stripes:n=4")
    assert data.name == "stripes" and data.synthetic and len(data) == 4
    assert sorted(set(data.splits)) == ["test", "train"]
    study = data.load(1)  # stripes every 3 pixels: columns 0, 3, ..., 63 -> 22 bright columns
    assert study.frontal[:, ::3].min() == 1.0 and study.frontal.mean() == pytest.approx(22 / 64)
    with pytest.raises(ValueError, match="use e.g. stripes:n=6"):
        load_dataset("stripes:rows=3")
    with pytest.raises(ValueError, match="Did you mean stripes"):
        load_dataset("stripe")


def test_both_plugins_run_through_the_runner_and_the_cli(plugins, tmp_path):
    res = run("F->T", models=["oracle"], metrics=["word-count-gap"], dataset="stripes:n=6", split="all",
              out=tmp_path / "runs", run_id="p", progress=False,
              metric_settings={"word-count-gap": {"unit": "characters"}}).results
    record = res["models"]["oracle"]["metrics"]["word-count-gap/T"]
    assert res["dataset"]["name"] == "stripes" and res["dataset"]["n_evaluated"] == 6
    assert record["values"]["word_count_gap"] == 0.0 and record["settings"] == {"unit": "characters"}

    hyp, ref = tmp_path / "hyp.csv", tmp_path / "ref.csv"
    hyp.write_text("study_id,report\na,no acute disease\nb,small left effusion\n")
    ref.write_text("study_id,report\na,normal\nb,small left pleural effusion noted\n")
    scored = CliRunner().invoke(app, ["score-reports", "--hyp", str(hyp), "--ref", str(ref), "--metrics",
                                      "word-count-gap", "--json"])
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.output)["metrics"]["word-count-gap"]["values"]["word_count_gap"] == 2.0


def test_a_plugin_may_not_take_a_builtin_name(tmp_path, monkeypatch):
    site = install_entry_points(tmp_path / "site", "xgem-bench-clash", {"xgem_bench.metrics": {"bleu": "x:Y"}})
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(RuntimeError, match="plug-in metric 'bleu' .* clashes with a built-in metric name"):
        get_metric_class("bleu")
