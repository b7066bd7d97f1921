"""Progress that suits where it goes: a live bar in a terminal, a line per 10 % in logs (CI, SLURM), nothing with -q.

`silence_third_party_bars()` turns off the bars of diffusers, transformers and huggingface_hub, which adapters and
metrics import (they draw their own bars in sampling loops and downloads).
"""
from __future__ import annotations

import importlib
import logging
import math
import os
import sys
import time
from contextlib import contextmanager
from typing import TextIO

#: lines a non-terminal log gets per task at most (one per 10 %, the last one at 100 %)
LOG_STEPS = 10


class LogProgress:
    """tqdm's `update`/`close` for logs: `desc: 30/100 study (30%), 12.3 s` at each tenth, and at the end."""

    def __init__(self, total: int, desc: str, unit: str, stream: TextIO):
        self.total, self.desc, self.unit, self.stream = max(int(total), 0), desc, unit, stream
        self.n, self._printed_step, self._printed_n, self._start = 0, 0, 0, time.time()

    def update(self, n: int = 1) -> None:
        self.n += n
        step = LOG_STEPS if self.total == 0 else min(LOG_STEPS, math.floor(LOG_STEPS * self.n / self.total))
        if step > self._printed_step:
            self._printed_step = step
            self._line()

    def _line(self) -> None:
        self._printed_n = self.n
        percent = 100 if self.total == 0 else round(100 * self.n / self.total)
        print(f"{self.desc}: {self.n}/{self.total} {self.unit} ({percent}%), {time.time() - self._start:.1f} s",
              file=self.stream, flush=True)

    def close(self) -> None:
        if self.n != self._printed_n:  # stopped between two tenths: say where
            self._line()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def progress_bar(total: int, desc: str, unit: str = "it", enabled: bool = True, stream: TextIO | None = None):
    """A bar with `update(n)` and `close()`: tqdm in a terminal, LogProgress otherwise, a silent tqdm when disabled."""
    from tqdm import tqdm

    stream = stream or sys.stderr
    if not enabled:
        return tqdm(total=total, disable=True)
    if stream.isatty():
        return tqdm(total=total, desc=desc, unit=unit, file=stream)
    return LogProgress(total, desc, unit, stream)


#: each library's own switch for the bars it draws while loading or downloading
THIRD_PARTY_SWITCHES = (("huggingface_hub", "huggingface_hub.utils", "disable_progress_bars"),
                        ("transformers", "transformers.utils.logging", "disable_progress_bar"),
                        ("diffusers", "diffusers.utils.logging", "disable_progress_bar"))


def silence_third_party_bars() -> None:
    """No loading/download bars from huggingface_hub, transformers or diffusers (for -q).

    Only libraries already imported are switched (importing one costs seconds), so the runner calls this again after
    each adapter's setup(). Diffusers pipelines' sampling bars follow `pipe.set_progress_bar_config(disable=True)`,
    which the adapters that use pipelines set.
    """
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # read by huggingface_hub when it is imported later
    for package, module, function in THIRD_PARTY_SWITCHES:
        if package in sys.modules:
            getattr(importlib.import_module(module), function)()


@contextmanager
def quiet_logger(name: str):
    """Only errors from the logger `name` inside the block (a message that is expected and says nothing new)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
