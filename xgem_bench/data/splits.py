"""Deterministic subject-level split assignment (so that no patient is on both sides of a split)."""
from __future__ import annotations

import hashlib


def hash_split(subject_id: str, fractions: dict[str, float], salt: str) -> str:
    """The split of one subject, from a hash of (salt, subject id): stable across machines, runs and orderings.

    `fractions` maps split name -> share (they must sum to 1); the shares hold in expectation, not exactly.
    """
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-9 or any(f < 0 for f in fractions.values()):
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {fractions}")
    digest = hashlib.sha256(f"{salt}|{subject_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2 ** 64
    cumulative = 0.0
    for name, fraction in fractions.items():
        cumulative += fraction
        if position < cumulative:
            return name
    return list(fractions)[-1]
