"""bench/notifiers.py runs at a tiny size without Alertmanager and reports every figure."""

from __future__ import annotations

import gc
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench._report import write_json
from bench.notifiers import INSTALL_HINT, Sizes, process_cpu_seconds, render, run

TINY = Sizes(
    notifications=20, emails=5, rounds=1, budget=30.0, webhook_seconds=60.0, email_seconds=60.0
)


@pytest.mark.parametrize("runtime", ["served", "embedded"])
def test_a_tiny_run_without_alertmanager_reports_tocsin_and_leaves_alertmanager_missing(
    tmp_path: Path, runtime: str
) -> None:
    collector = gc.get_threshold(), gc.get_freeze_count()
    figures = run(TINY, alertmanager=False, runtime=runtime)
    assert (gc.get_threshold(), gc.get_freeze_count()) == collector  # given back as it was
    assert figures["runtime"] == runtime

    assert figures["webhook_per_s"] > 0
    assert figures["email_per_s"] > 0
    assert len(figures["rounds"]["webhook_per_s"]) == 1
    assert len(figures["rounds"]["email_per_s"]) == 1
    assert figures["webhook_cpu_ms_per_notification"] > 0
    assert len(figures["rounds"]["webhook_cpu_ms_per_notification"]) == 1
    assert figures["receiver_cpu_ms_per_request"]["tocsin"] >= 0
    assert math.isnan(figures["receiver_cpu_ms_per_request"]["alertmanager"])
    assert math.isnan(figures["alertmanager_cpu_ms_per_notification"])
    assert math.isnan(figures["cpu_ratio_alertmanager_over_tocsin"])
    assert math.isnan(figures["alertmanager_webhook_per_s"])
    assert math.isnan(figures["webhook_ratio_vs_alertmanager"])
    assert figures["alertmanager_version"] is None
    assert "Notifier (durable SQLite outbox" in figures["webhook_path"]

    table = render(figures)
    assert "missing" in table
    assert INSTALL_HINT in table
    assert "CPU per webhook notification" in table
    assert f"runtime: {runtime} (" in table

    path = tmp_path / "notifiers.json"
    write_json(path, figures)
    written = json.loads(path.read_text())
    assert written["alertmanager_webhook_per_s"] is None
    assert written["webhook_ratio_vs_alertmanager"] is None
    assert written["webhook_per_s"] == figures["webhook_per_s"]
    assert written["email_per_s"] == figures["email_per_s"]


def test_process_cpu_counts_a_busy_child_finer_than_clock_ticks() -> None:
    # The receiver's share of a round is tens of milliseconds: clock ticks (10 ms) read
    # it as a multiple of 0.01 s; the threads' schedstat reads it in nanoseconds.
    busy = (
        "import time\n"
        "end = time.process_time() + 0.03\n"
        "while time.process_time() < end: pass\n"
        "print(time.process_time(), flush=True)\n"
        "import sys\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", busy], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdin is not None
    try:
        own = float(child.stdout.readline())  # the child's own reading, once busy
        measured = process_cpu_seconds(child.pid)
    finally:
        child.stdin.close()
        child.wait(timeout=10)
        child.stdout.close()
    assert own - 0.002 <= measured <= own + 0.5
    centiseconds = measured * 100
    assert abs(centiseconds - round(centiseconds)) > 1e-6  # not a count of ticks
