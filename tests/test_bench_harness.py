"""The benchmark's memory figure: peak RSS must count the processes a run starts (Spark's JVM, text workers)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from pipeline_bench import _rss_bytes  # noqa: E402

pytestmark = pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc (Linux)")


def test_rss_counts_child_processes():
    before = _rss_bytes()
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; b = b'x' * (300 * 2**20); print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        with_child = _rss_bytes()
        alone = _rss_bytes(child.pid)
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    assert alone >= 300 * 2**20
    assert with_child - before >= 290 * 2**20, (before, with_child)
    assert _rss_bytes() < with_child - 250 * 2**20  # gone again once the child exits


def test_rss_of_a_finished_process_is_zero():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert _rss_bytes(child.pid) == 0
