"""Warnings said once per run: the first time a kind of problem occurs it is logged; repeats are counted, not printed
(the results record the affected metrics themselves, e.g. FID's `rank_deficient`). The runner resets at each run."""
from __future__ import annotations

import logging

_seen: dict[str, int] = {}


def warn(logger: logging.Logger, key: str, message: str) -> bool:
    """Log `message` unless a warning with the same `key` was logged since the last reset; True if logged."""
    _seen[key] = _seen.get(key, 0) + 1
    if _seen[key] > 1:
        return False
    logger.warning(message)
    return True


def repeats() -> dict[str, int]:
    """key -> how many times each warning occurred since the last reset."""
    return dict(_seen)


def reset() -> None:
    _seen.clear()
