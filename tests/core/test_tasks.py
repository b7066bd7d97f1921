import pytest

from xgem_bench.tasks import JOINT_TASKS, PAPER_TASKS, SINGLE_OUTPUT_TASKS, Modality, TaskError, parse_task


@pytest.mark.parametrize("text,canonical", [
    ("L+T->F", "L+T->F"), ("t+l -> f", "L+T->F"), (" lateral + report->frontal ", "L+T->F"),
    ("T->L+F", "T->F+L"), ("report->frontal+lateral", "T->F+L"), ("f->t", "F->T"), ("FRONTAL->text", "F->T"),
])
def test_parse_is_tolerant_and_canonical(text, canonical):
    task = parse_task(text)
    assert task.name == canonical
    assert parse_task(task.name) == task


@pytest.mark.parametrize("text,message", [
    ("X->F", "unknown modality 'X'"), ("->F", "empty input side"), ("F->", "empty output side"),
    ("F->F", "on both sides"), ("F+L->L", "on both sides"), ("F+F->T", "names a modality twice"),
    ("F->T->L", "exactly one '->'"), ("FT", "exactly one '->'"), ("F+->T", r"stray '\+'"),
    ("frontl->T", "Did you mean 'frontal'"),
])
def test_parse_errors_are_clear(text, message):
    with pytest.raises(TaskError, match=message):
        parse_task(text)


def test_paper_tasks():
    assert len(SINGLE_OUTPUT_TASKS) == 9 and len(JOINT_TASKS) == 3 and len(set(PAPER_TASKS)) == 12
    assert all(not t.is_joint for t in SINGLE_OUTPUT_TASKS) and all(t.is_joint for t in JOINT_TASKS)
    assert parse_task("L->F+T").outputs == (Modality.FRONTAL, Modality.REPORT)
