"""How fast and how wide the listing commands are (run by hand):

    .venv/bin/python benchmarks/cli_listing.py [--columns 120] [--repeats 3]

Runs `xgem-bench models`, `metrics` and `weights list` as a user would (a fresh process each time, COLUMNS set),
and prints per command the median wall time, the CPU time of the child (user + sys: the part a loaded machine does
not inflate) and the widest output line. The target of issue 13: `models` within 2 s, every table within COLUMNS.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (["models"], ["metrics"], ["weights", "list"])


def measure(command: list[str], columns: int) -> tuple[float, float, int]:
    executable = Path(sys.executable).with_name("xgem-bench")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run([str(executable), *command], capture_output=True, text=True, check=True,
                         env={**os.environ, "COLUMNS": str(columns)}).stdout
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, max(len(line) for line in out.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--columns", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'command':<14} {'wall s (median)':>16} {'cpu s (median)':>15} {'width':>6}  (COLUMNS={args.columns})")
    for command in COMMANDS:
        runs = [measure(command, args.columns) for _ in range(args.repeats)]
        print(f"{' '.join(command):<14} {statistics.median(r[0] for r in runs):>16.2f} "
              f"{statistics.median(r[1] for r in runs):>15.2f} {max(r[2] for r in runs):>6}")


if __name__ == "__main__":
    main()
