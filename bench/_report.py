"""What every benchmark shares: its command line, time budgets, statistics, table and JSON.

A benchmark runs as ``python bench/NAME.py [--quick] [--json PATH]`` from the repository
root, repeats each measurement a few times on a noisy machine, reports medians, prints
one table, and writes the figures as JSON where ``--json`` says.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def parse_arguments(
    description: str, argv: Sequence[str] | None = None, *, runtime: str | None = None
) -> argparse.Namespace:
    """Parse the options every benchmark takes: ``--quick`` and ``--json PATH``.

    ``runtime``: also take ``--runtime served|embedded``, with this default: how Tocsin's
    side runs: as ``tocsin serve`` runs it (uvloop, the garbage collector tuned once up)
    or as an ``AlertSystem`` embedded in a program that chose neither (asyncio's loop,
    Python's collector).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes and fewer rounds (under 30 s)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    if runtime is not None:
        parser.add_argument(
            "--runtime",
            choices=("served", "embedded"),
            default=runtime,
            help="served: uvloop and the collector tuned, as tocsin serve runs; embedded: "
            f"asyncio's loop and Python's collector (default {runtime})",
        )
    return parser.parse_args(argv)


class Deadline:
    """A time budget for one load loop.

    Every load loop is bounded in count *and* time: check ``expired`` every so often and
    stop early; the measurement then reports what was done within the budget.
    """

    __slots__ = ("_end",)

    def __init__(self, seconds: float) -> None:
        self._end = time.perf_counter() + seconds

    def remaining(self) -> float:
        """Return the seconds left (never negative)."""
        return max(0.0, self._end - time.perf_counter())

    def expired(self) -> bool:
        """Return True once the budget is spent."""
        return time.perf_counter() >= self._end


def median(values: Sequence[float]) -> float:
    """Return the median of ``values``; NaN when there are none."""
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """Return the ``q``-th percentile (0-100) with linear interpolation; NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Target:
    """A goal printed next to a measured figure: a miss is reported, never fatal."""

    text: str
    bound: float
    met: bool

    @classmethod
    def at_least(cls, measured: float, bound: float, text: str) -> Target:
        """Return a target met when ``measured >= bound``."""
        return cls(text, bound, measured >= bound)

    @classmethod
    def at_most(cls, measured: float, bound: float, text: str) -> Target:
        """Return a target met when ``measured <= bound``."""
        return cls(text, bound, measured <= bound)

    @property
    def mark(self) -> str:
        """Return ``pass`` or ``MISS``."""
        return "pass" if self.met else "MISS"

    def as_json(self) -> dict[str, Any]:
        """Return the target as a JSON-ready dict."""
        return {"text": self.text, "bound": self.bound, "met": self.met}


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Return a plain-text table: left-aligned first column, right-aligned figures."""
    widths = [len(header) for header in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(widths[index]) if index == 0 else cell.rjust(widths[index])
            for index, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def format_rate(per_second: float) -> str:
    """Return e.g. ``1.23M/s`` or ``91.2k/s``."""
    if math.isnan(per_second):
        return "n/a"
    if per_second >= 1e6:
        return f"{per_second / 1e6:.2f}M/s"
    if per_second >= 1e3:
        return f"{per_second / 1e3:.1f}k/s"
    return f"{per_second:.0f}/s"


def format_us(microseconds: float) -> str:
    """Return a latency in microseconds, e.g. ``42 µs`` or ``2.20 ms``."""
    if math.isnan(microseconds):
        return "n/a"
    if microseconds >= 1000:
        return f"{microseconds / 1000:.2f} ms"
    return f"{microseconds:.0f} µs"


def format_seconds(seconds: float) -> str:
    """Return a duration in seconds, e.g. ``1.234 s``."""
    return "n/a" if math.isnan(seconds) else f"{seconds:.3f} s"


def format_bytes(count: float) -> str:
    """Return a size, e.g. ``2,345 B``."""
    return "n/a" if math.isnan(count) else f"{count:,.0f} B"


def format_ratio(ratio: float) -> str:
    """Return e.g. ``12.3x``."""
    return "n/a" if math.isnan(ratio) else f"{ratio:.1f}x"


class MachineLoad:
    """How busy the machine was while a benchmark ran: on a shared machine, say so.

    Create it when the run starts; ``summary`` reports wall and CPU seconds of this
    process and the 1-minute load average before and after.
    """

    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        self._load = os.getloadavg()[0]

    def summary(self) -> dict[str, float]:
        """Return the run's ``seconds``, ``cpu_seconds`` and load averages so far."""
        return {
            "seconds": round(time.perf_counter() - self._wall, 1),
            "cpu_seconds": round(time.process_time() - self._cpu, 1),
            "load_average_before": self._load,
            "load_average_after": os.getloadavg()[0],
        }

    @staticmethod
    def describe(summary: Mapping[str, float]) -> str:
        """Return one line for the report, with a warning if the machine was busy."""
        cpus = os.cpu_count() or 1
        busiest = max(summary["load_average_before"], summary["load_average_after"])
        line = (
            f"Run took {summary['seconds']} s ({summary['cpu_seconds']} s of CPU); load "
            f"average {summary['load_average_before']:.1f} → {summary['load_average_after']:.1f}"
            f" on {cpus} CPUs"
        )
        if busiest > cpus:
            line += ": the machine was busy, figures are noisier than usual"
        return line + "."


def run_metadata(quick: bool, rounds: Mapping[str, int], **extra: Any) -> dict[str, Any]:
    """Return what a reader needs to compare two result files: where, when, how often."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "argv": sys.argv,
        "quick": quick,
        "rounds": dict(rounds),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **extra,
    }


def write_json(path: Path, figures: Mapping[str, Any]) -> None:
    """Write ``figures`` to ``path`` (parents created); NaN becomes null."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_without_nan(figures), indent=2, sort_keys=True) + "\n")


def _without_nan(value: Any) -> Any:
    # JSON has no NaN; a figure that was not measured is null.
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Mapping):
        return {key: _without_nan(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nan(item) for item in value]
    return value
