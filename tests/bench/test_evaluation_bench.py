"""bench/evaluation.py runs end to end at a tiny size (no timing is asserted)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from bench.evaluation import TINY, build_rules, build_series, main, report, run


def test_every_series_is_selected_by_one_to_three_rules() -> None:
    series = build_series(TINY, random.Random(1))
    rules = build_rules(TINY)
    for one in series:
        selecting = [
            rule
            for rule in rules
            if rule.selector.metric == one.metric and rule.selector.matches_labels(one.labels)
        ]
        assert 1 <= len(selecting) <= 3, one


async def test_the_benchmark_measures_every_figure_at_a_tiny_size() -> None:
    figures = await run(TINY, log=lambda line: None)
    for name in (
        "embedded_samples_per_s",
        "json_samples_per_s",
        "sample_to_event_p99_ms",
        "sample_to_event_idle_p99_ms",
    ):
        assert figures[name] > 0, name
        assert math.isfinite(figures[name]), name
    assert figures["samples_dropped_by_evaluators"] == 0
    assert figures["latency_probes_idle"] == TINY.latency_probes
    assert figures["latency_probes_loaded"] >= 1
    assert "samples/s, Python objects" in report(figures)


def test_the_command_line_writes_the_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("bench.evaluation.QUICK", TINY)
    # The command configures logging for the whole process: not inside a test run.
    monkeypatch.setattr("bench.evaluation.configure_logging", lambda level: None)
    target = tmp_path / "out" / "evaluation.json"
    main(["--quick", "--json", str(target)])
    figures = json.loads(target.read_text())
    assert {"embedded_samples_per_s", "json_samples_per_s", "sample_to_event_p99_ms"} <= set(
        figures
    )
    assert "target" in capsys.readouterr().out
