"""bench/webhook_floor.py runs at a tiny size and reports both paths' figures."""

from __future__ import annotations

import gc
import json
from pathlib import Path

from bench._report import write_json
from bench.webhook_floor import render, run

TINY = {"notifications": 20, "rounds": 1, "seconds": 60.0}


def test_a_tiny_run_reports_the_floor_and_the_notifier_side_by_side(tmp_path: Path) -> None:
    collector = gc.get_threshold(), gc.get_freeze_count()
    figures = run(TINY)
    assert (gc.get_threshold(), gc.get_freeze_count()) == collector  # given back as it was

    assert figures["floor_failed_requests"] == 0
    for name in ("floor", "notifier"):
        assert len(figures["rounds"][f"{name}_per_s"]) == 1
        assert figures[f"{name}_per_s"] > 0
        assert figures[f"{name}_cpu_ms_per_notification"] > 0
    assert figures["notifier_cpu_over_floor"] > 0
    assert figures["runtime"] == "served"

    table = render(figures)
    assert "floor: durable outbox + request" in table
    assert "Tocsin's notifier" in table

    path = tmp_path / "floor.json"
    write_json(path, figures)
    written = json.loads(path.read_text())
    assert written["floor_cpu_ms_per_notification"] == figures["floor_cpu_ms_per_notification"]
    assert written["notifier_per_s"] == figures["notifier_per_s"]
