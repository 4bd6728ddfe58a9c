"""bench/alert_manager.py runs end to end at a tiny size (figures are not checked)."""

from __future__ import annotations

import math

from bench.alert_manager import Sizes, measure, table


async def test_the_alert_manager_benchmark_runs_and_reports_every_figure() -> None:
    sizes = Sizes(rounds=1, transitions=40, open_alerts_for_dedup=10, acks=4, budget=5.0)
    figures = await measure(sizes)
    for key in ("durable_transitions_per_s", "memory_transitions_per_s", "ack_p99_ms"):
        assert math.isfinite(figures[key]), key
        assert figures[key] > 0, key
    assert "durable: new alerts" in table(figures, {})
