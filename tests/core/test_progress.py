"""Issue 13 §2: progress is a live bar in a terminal, at most a line per 10 % in a log, nothing with -q."""
import io

from core_fixtures import tiny_dataset
from tqdm import tqdm

from xgem_bench.progress import LogProgress, progress_bar
from xgem_bench.runner import run


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_log_gets_a_line_per_tenth_at_most():
    log = io.StringIO()
    bar = progress_bar(1000, "oracle T->F", unit="study", stream=log)
    assert isinstance(bar, LogProgress)
    for _ in range(1000):
        bar.update(1)
    bar.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 10 and lines[0].startswith("oracle T->F: 100/1000 study (10%)")
    assert lines[-1].startswith("oracle T->F: 1000/1000 study (100%)")


def test_uneven_batches_and_an_early_stop_still_end_with_where_it_stopped():
    log = io.StringIO()
    with progress_bar(7, "x", stream=log) as bar:
        for n in (3, 3):
            bar.update(n)
    lines = log.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == ["x: 3/7 it", "x: 6/7 it"]  # 6/7 stops short: said once


def test_terminal_gets_tqdm_and_disabled_is_silent():
    assert isinstance(progress_bar(5, "x", stream=FakeTerminal()), tqdm)
    silent = io.StringIO()
    bar = progress_bar(5, "x", enabled=False, stream=silent)
    bar.update(5)
    bar.close()
    assert silent.getvalue() == ""


def test_run_progress_in_a_log_and_quiet(tmp_path, capsys):
    run("T->F", models=["oracle", "shuffled"], dataset=tiny_dataset(40), split="all", metrics=["pixel-mae"],
        out=tmp_path, batch_size=1, progress=True)
    err = capsys.readouterr().err.splitlines()
    assert len([e for e in err if e.startswith("oracle T->F:")]) == 10
    assert len([e for e in err if e.startswith("shuffled T->F:")]) == 10
    run("T->F", models=["oracle"], dataset=tiny_dataset(40), split="all", metrics=["pixel-mae"], out=tmp_path,
        progress=False)
    assert capsys.readouterr().err == ""
