"""Benchmark the stores' append throughput: group commit under concurrent appenders.

Run from the repository root in the project's environment::

    python bench/store.py [--quick] [--json PATH]

Workloads, each for a fixed time budget with appenders in a closed loop (each awaits
its append, then issues the next): "transition", 1000 appenders of one event plus its
state document (an alert transition), as callers that each await their own append;
"batch-100", 100 appenders of 100 events; "journal-1000", one appender of 1000
transitions at a time, as the alert manager's journal does (one batch in flight).
Each runs against SqliteStore with synchronous="full" and "normal" in a temporary
directory, and MemoryStore (durability off) for reference; medians of the rounds are
reported, with appends per CPU-second of the process (loop and store thread together)
next to the wall-clock rates, since a shared machine's load moves the latter.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from actors.store import MemoryStore, NewEvent, SqliteStore, StateWrite

CONCURRENCY = 1000


@dataclass(frozen=True, slots=True)
class Result:
    store: str
    workload: str
    appends_per_s: float
    events_per_s: float
    events_per_transaction: float
    appends_per_cpu_s: float
    """appends per second of this process's CPU time (loop and store thread together):
    what the rate would be with a core to itself, on a machine shared with other load"""


def transition(n: int) -> tuple[list[NewEvent], list[StateWrite]]:
    fingerprint = f"{n % 5000:016x}"
    labels = {"alertname": "HighCpu", "service": f"api-{n % 50}", "severity": "page"}
    payload = {"labels": labels, "value": 0.97, "state": "active"}
    event = NewEvent("fired", float(n), payload, alert_id=f"a{n}", fingerprint=fingerprint)
    return [event], [StateWrite("alerts", fingerprint, payload)]


def batch_of_100(n: int) -> tuple[list[NewEvent], list[StateWrite]]:
    return [transition(n * 100 + i)[0][0] for i in range(100)], []


def journal_batch(n: int) -> tuple[list[NewEvent], list[StateWrite]]:
    """1000 transitions in one append: the alert manager's journal, one batch in flight."""
    events: list[NewEvent] = []
    writes: list[StateWrite] = []
    for i in range(n * 1000, n * 1000 + 1000):
        new, written = transition(i)
        events += new
        writes += written
    return events, writes


def pooled(
    make: Callable[[int], tuple[list[NewEvent], list[StateWrite]]], size: int
) -> Callable[[int], tuple[list[NewEvent], list[StateWrite]]]:
    """Build ``size`` appends up front and cycle through them: time the store, not this."""
    pool = [make(n) for n in range(size)]
    return lambda n: pool[n % size]


WORKLOADS = {
    # name: (one append's contents, pool size, concurrent appenders)
    "transition": (transition, 20_000, CONCURRENCY),
    "batch-100": (batch_of_100, 200, CONCURRENCY // 10),
    "journal-1000": (journal_batch, 20, 1),
}


async def run(
    store: SqliteStore | MemoryStore,
    make: Callable[[int], tuple[list[NewEvent], list[StateWrite]]],
    seconds: float,
    concurrency: int = CONCURRENCY,
) -> tuple[int, int, float, float]:
    """Append from ``concurrency`` coroutines for ``seconds``.

    Return (appends, events, elapsed wall seconds, elapsed CPU seconds).
    """
    counter = iter(range(sys.maxsize))
    appends = events = 0
    end = time.perf_counter() + seconds

    async def appender() -> None:
        nonlocal appends, events
        while time.perf_counter() < end:
            new, writes = make(next(counter))
            await store.append(new, writes)
            appends += 1
            events += len(new)

    start, cpu = time.perf_counter(), time.process_time()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(appender())
    return appends, events, time.perf_counter() - start, time.process_time() - cpu


async def measure(kind: str, workload: str, seconds: float, directory: Path) -> Result:
    make, pool, concurrency = WORKLOADS[workload]
    store: SqliteStore | MemoryStore
    if kind == "memory":
        store = MemoryStore()
    else:
        path = directory / f"{kind}-{workload}-{time.monotonic_ns()}.db"
        store = SqliteStore(path, synchronous="full" if kind == "sqlite-full" else "normal")
    async with store:
        appends, events, elapsed, cpu = await run(store, pooled(make, pool), seconds, concurrency)
        transactions = store.transactions
    return Result(
        kind,
        workload,
        appends / elapsed,
        events / elapsed,
        events / max(1, transactions),
        appends / cpu,
    )


async def main(quick: bool) -> list[Result]:
    seconds, rounds = (1.0, 1) if quick else (3.0, 3)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-store-") as directory:
        for workload in WORKLOADS:
            for kind in ("sqlite-full", "sqlite-normal", "memory"):
                rounds_done = [
                    await measure(kind, workload, seconds, Path(directory)) for _ in range(rounds)
                ]
                results.append(
                    Result(
                        kind,
                        workload,
                        statistics.median(r.appends_per_s for r in rounds_done),
                        statistics.median(r.events_per_s for r in rounds_done),
                        statistics.median(r.events_per_transaction for r in rounds_done),
                        statistics.median(r.appends_per_cpu_s for r in rounds_done),
                    )
                )
    return results


def print_table(results: list[Result]) -> None:
    print(
        f"{'store':<14} {'workload':<11} {'appends/s':>10} {'events/s':>10} "
        f"{'events/txn':>10} {'appends/cpu-s':>13}"
    )
    for r in results:
        print(
            f"{r.store:<14} {r.workload:<11} {r.appends_per_s:>10,.0f} "
            f"{r.events_per_s:>10,.0f} {r.events_per_transaction:>10,.1f} "
            f"{r.appends_per_cpu_s:>13,.0f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round each (< 15 s)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    arguments = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    figures = asyncio.run(main(arguments.quick))
    print_table(figures)
    if arguments.json:
        arguments.json.write_text(json.dumps([dataclasses.asdict(r) for r in figures], indent=2))
