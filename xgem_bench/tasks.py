"""Modalities and tasks: `L+T->F` means "given lateral X-ray and report, generate the frontal X-ray"."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import Enum


class Modality(str, Enum):
    """The three modalities of the XGeM protocol; the value is the one-letter code used in task names."""

    FRONTAL = "F"
    LATERAL = "L"
    REPORT = "T"

    @property
    def is_image(self) -> bool:
        return self is not Modality.REPORT

    @property
    def field(self) -> str:
        """Name of the Study attribute that holds this modality."""
        return {"F": "frontal", "L": "lateral", "T": "report"}[self.value]


# Canonical order inside each side of a task name: F, then L, then T (the paper writes L+T->F, F+L->T, T->F+L).
_ORDER = {Modality.FRONTAL: 0, Modality.LATERAL: 1, Modality.REPORT: 2}
_ALIASES = {
    "f": Modality.FRONTAL, "frontal": Modality.FRONTAL, "front": Modality.FRONTAL, "pa": Modality.FRONTAL,
    "l": Modality.LATERAL, "lateral": Modality.LATERAL, "lat": Modality.LATERAL,
    "t": Modality.REPORT, "report": Modality.REPORT, "text": Modality.REPORT, "r": Modality.REPORT,
}


class TaskError(ValueError):
    """A task string that does not describe a valid task."""


def parse_modality(token: str) -> Modality:
    key = token.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    close = difflib.get_close_matches(key, list(_ALIASES), n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise TaskError(f"unknown modality {token.strip()!r}; use F (frontal), L (lateral) or T (report).{hint}")


def _sorted(mods) -> tuple[Modality, ...]:
    return tuple(sorted(mods, key=_ORDER.__getitem__))


@dataclass(frozen=True)
class Task:
    """A set of input modalities and a disjoint, non-empty set of output modalities."""

    inputs: tuple[Modality, ...]
    outputs: tuple[Modality, ...]

    def __post_init__(self):
        object.__setattr__(self, "inputs", _sorted(self.inputs))
        object.__setattr__(self, "outputs", _sorted(self.outputs))
        if not self.inputs or not self.outputs:
            raise TaskError("a task needs at least one input and one output modality")
        both = set(self.inputs) & set(self.outputs)
        if both:
            raise TaskError(f"modality {'+'.join(m.value for m in _sorted(both))} is on both sides of the task")

    @property
    def name(self) -> str:
        return "+".join(m.value for m in self.inputs) + "->" + "+".join(m.value for m in self.outputs)

    @property
    def is_joint(self) -> bool:
        return len(self.outputs) > 1

    @property
    def modalities(self) -> tuple[Modality, ...]:
        return _sorted(set(self.inputs) | set(self.outputs))

    def __str__(self) -> str:
        return self.name


def parse_task(text: str | Task) -> Task:
    """Parse `L+T->F` (whitespace and case tolerant; aliases such as `lateral+report -> frontal`)."""
    if isinstance(text, Task):
        return text
    if text.strip().endswith("-") and "->" not in text:
        raise TaskError(f"task {text!r} ends in '-': unquoted, the shell read '>' as a redirect (and wrote a file "
                        f"named after the outputs); quote the task, e.g. --task '{text.strip()}>F'")
    if text.count("->") != 1:
        raise TaskError(f"task {text!r} must have exactly one '->' between inputs and outputs, e.g. 'L+T->F'")
    sides = []
    for side_name, side in zip(("input", "output"), text.split("->")):
        tokens = [t for t in side.split("+")]
        if not side.strip():
            raise TaskError(f"task {text!r} has an empty {side_name} side")
        if any(not t.strip() for t in tokens):
            raise TaskError(f"task {text!r} has an empty modality in its {side_name} side (a stray '+')")
        mods = [parse_modality(t) for t in tokens]
        if len(set(mods)) != len(mods):
            raise TaskError(f"task {text!r} names a modality twice on its {side_name} side")
        sides.append(mods)
    return Task(tuple(sides[0]), tuple(sides[1]))


SINGLE_OUTPUT_TASKS = tuple(parse_task(t) for t in (
    "T->F", "L->F", "L+T->F", "T->L", "F->L", "F+T->L", "F->T", "L->T", "F+L->T"))
JOINT_TASKS = tuple(parse_task(t) for t in ("T->F+L", "L->F+T", "F->L+T"))
PAPER_TASKS = SINGLE_OUTPUT_TASKS + JOINT_TASKS
