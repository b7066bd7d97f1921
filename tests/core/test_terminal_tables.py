"""Terminal tables fit $COLUMNS; `models`, `metrics` and `weights list` have --json and one-entry views."""
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from xgem_bench.cli import app
from xgem_bench.terminal import fit_table

cli = CliRunner()
LONG = "weight 'x' is not at /a/very/long/path/" + "deep/" * 30 + "file.pt; run `xgem-bench weights fetch x`"


def widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def test_long_reasons_become_shared_numbered_footnotes_within_the_width():
    rows = [{"model": "a", "reason": LONG}, {"model": "b", "reason": None}, {"model": "c", "reason": LONG},
            {"model": "d", "reason": "short"}]
    text = fit_table(rows, width=60, footnote_columns=("reason",))
    assert widest(text) <= 60
    lines = text.splitlines()
    assert lines[2].split() == ["a", "[1]"] and lines[4].split() == ["c", "[1]"]  # one note for one text
    assert lines[3].split() == ["b", "-"] and lines[5].split() == ["d", "short"]
    notes = "\n".join(lines[6:])
    assert notes.startswith("[1] weight 'x'") and "[2]" not in notes
    assert "".join(notes.replace("[1] ", "").split()) == "".join(LONG.split())  # the whole reason, wrapped


def test_cells_are_cut_but_never_the_row_name_and_wide_prints_everything():
    rows = [{"name": "xrv-densenet121-res224-mimic_ch", "settings": "k=" + "v" * 200, "licence": "L" * 50}]
    text = fit_table(rows, width=70, detail_hint="`x show NAME` shows one in full")
    assert widest(text) <= 70
    assert "xrv-densenet121-res224-mimic_ch" in text and "…" in text and "--wide" in text
    full = fit_table(rows, width=70, wide=True)
    assert "v" * 200 in full and "…" not in full


def test_negative_zero_is_printed_as_zero():
    assert "-0.0000" not in fit_table([{"fid": -1e-13}], wide=True)


@pytest.mark.parametrize("command", [["models"], ["metrics"], ["weights", "list"]])
def test_catalog_tables_fit_120_columns(command):
    result = cli.invoke(app, command, env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert widest(result.output) <= 120


def test_json_views_describe_every_entry():
    models = json.loads(cli.invoke(app, ["models", "--json"]).output)
    oracle = next(m for m in models if m["name"] == "oracle")
    assert oracle["available"] is True and oracle["reason"] is None and "L+T->F" in oracle["tasks"]
    retrieval = json.loads(cli.invoke(app, ["models", "retrieval", "--json"]).output)
    assert retrieval["name"] == "retrieval" and isinstance(retrieval["settings"], dict)
    metrics = json.loads(cli.invoke(app, ["metrics", "--json"]).output)
    chexpert = next(m for m in metrics if m["name"] == "chexpert-f1")
    assert chexpert["settings"]["uncertain"] == "positive" and "ignore" in chexpert["allowed"]["uncertain"]
    weights = json.loads(cli.invoke(app, ["weights", "list", "--json"]).output)
    inception = next(w for w in weights if w["name"] == "fid-inception")
    assert inception["sha256"] and inception["checksum_policy"] == "published sha256"
    assert inception["source"].startswith("https://github.com/mseitzer/pytorch-fid/")


def test_one_entry_views_and_unknown_names():
    shown = cli.invoke(app, ["models", "oracle"])
    assert shown.exit_code == 0 and "tasks: T->F" in shown.output
    assert "allowed: uncertain=" in cli.invoke(app, ["metrics", "chexpert-f1"]).output
    weight = cli.invoke(app, ["weights", "show", "fid-inception"])
    assert "releases/download/fid_weights" in weight.output and "present:" in weight.output
    unknown = cli.invoke(app, ["models", "oracel"])
    assert unknown.exit_code == 2 and "oracle" in unknown.output


def test_listing_models_and_metrics_does_not_import_torch():
    """What keeps `xgem-bench models` near one second: availability checks are file checks."""
    code = ("import sys; from typer.testing import CliRunner; from xgem_bench.cli import app; "
            "[CliRunner().invoke(app, c) for c in (['models'], ['metrics'], ['weights', 'list'])]; "
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_wide_numeric_tables_wrap_into_blocks_and_never_cut_a_number():
    """Run summaries (`run`, `results show`, `score-reports`): columns in blocks that fit, the name in each."""
    from xgem_bench.results import format_table

    rows = [{"model": name, **{f"metric-{k}/F": 1000.0 + k + i / 3 for k in range(12)}}
            for i, name in enumerate(["oracle", "a-much-longer-model-name"])]
    text = format_table(rows, width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    blocks = text.split("\n\n")
    assert len(blocks) > 1 and all(block.splitlines()[0].startswith("model") for block in blocks)
    for k in range(12):  # every value whole, each exactly once per row
        for i in range(2):
            assert text.count(f"{1000.0 + k + i / 3:.4f}") == 1
