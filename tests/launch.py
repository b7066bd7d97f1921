"""Waiting for torchrun launches in tests without leaving workers behind."""
import signal
import subprocess

import pytest


def finish(process: subprocess.Popen, timeout: float) -> tuple[int, str, str]:
    """Wait for a launch; past the timeout, stop it with SIGTERM, which torchrun forwards to its workers (they run
    in sessions of their own, so a SIGKILL of torchrun would orphan them), and fail the test."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        pytest.fail(f"the launch did not finish within {timeout} s:\n{err[-3000:]}")
    return process.returncode, out, err
