"""bench/runtime.py runs every workload at a tiny size and reports every figure (untimed)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pykka

from bench._report import percentile, write_json
from bench.runtime import Sizes, render, run

TINY = Sizes(
    rounds=1,
    tell_messages=2_000,
    fan_in_producers=5,
    fan_in_messages_per_producer=200,
    asks=50,
    restarts=10,
    start_small=10,
    start_large=20,
    start_rounds=1,
    pykka_start_large_rounds=1,
    many_actors=300,
    many_rounds=1,
    many_spawn_rounds=1,
    memory_actors=300,
    budget=20.0,
)

FIGURES = {
    "tell_msgs_per_s",
    "pykka_tell_msgs_per_s",
    "tell_ratio_vs_pykka",
    "fan_in_msgs_per_s",
    "pykka_fan_in_msgs_per_s",
    "fan_in_ratio_vs_pykka",
    "ask_p50_us",
    "ask_p99_us",
    "pykka_ask_p50_us",
    "pykka_ask_p99_us",
    "start_1k_s",
    "pykka_start_1k_s",
    "start_10k_s",
    "pykka_start_10k_s",
    "start_100k_s",
    "start_100k_spawn_s",
    "bytes_per_actor",
    "rss_bytes_per_actor",
    "restart_p50_us",
    "restart_p99_us",
    "ask_p99_cpu_us",
    "restart_p99_cpu_us",
    "tell_msgs_per_cpu_s",
    "pykka_tell_msgs_per_cpu_s",
    "fan_in_msgs_per_cpu_s",
    "pykka_fan_in_msgs_per_cpu_s",
    "start_100k_cpu_s",
    "start_100k_spawn_cpu_s",
}


def test_a_tiny_run_reports_every_figure_and_writes_them_as_json(tmp_path: Path) -> None:
    figures = run(TINY)

    assert figures.keys() >= FIGURES
    assert [key for key in FIGURES if not math.isfinite(figures[key])] == []
    # A few hundred actors may fit in memory the process already holds: RSS may not grow.
    assert [key for key in FIGURES - {"rss_bytes_per_actor"} if figures[key] <= 0] == []
    assert figures["restarts_observed"] == TINY.restarts
    assert figures["notes"] == []
    assert figures["metadata"]["quick"] is False
    assert {"python", "rounds", "date"} <= figures["metadata"].keys()
    assert pykka.ActorRegistry.get_all() == []
    table = render(figures)
    assert "tell 1→1" in table
    assert "restart latency p99" in table

    path = tmp_path / "runtime.json"
    write_json(path, figures)
    assert json.loads(path.read_text()).keys() >= FIGURES


def test_percentile_interpolates_between_ranks_and_is_nan_without_samples() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0, 1.0], 100) == 5.0
    assert math.isnan(percentile([], 99))
