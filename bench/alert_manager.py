"""Benchmark the alert manager: transitions/s with durability on and off, ack round trip.

Run from the repository root in the project's environment::

    python bench/alert_manager.py [--quick] [--json PATH]

Workloads, each repeated for a few rounds with medians reported, every round on a fresh
manager and store, in three modes: ``durable`` (SQLite, synchronous="full": every
commit fsynced, survives power loss), ``wal`` (SQLite, synchronous="normal": survives
kill -9 of the process, not power loss) and ``memory`` (MemoryStore: durability off);
SQLite files live in a temporary directory, appends are group-committed:

- ``open``: firing events for distinct label sets, each opening a new alert;
- ``dedup``: firing events for alerts already open, each a dedup hit (an update);
- ``ack``: sequential Acknowledge asks on open alerts, each answered once durable
  (round trip p50/p99), idle and while ``open`` load streams in.

A transition is one history event (alert opened, updated, acknowledged...). Events are
built before the clock starts; the timed part is telling them to the manager and
waiting until the last one is durable (a ``GetStatus`` ask answers only then).
Logging is off (``critical``). Every loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actors.alerting import GetStatus, ManagerStatus, alert_manager_spec
from actors.store import MemoryStore, SqliteStore
from actors.store._writer import Synchronous
from bench._report import (
    Deadline,
    Target,
    format_rate,
    format_us,
    median,
    parse_arguments,
    percentile,
    render_table,
    run_metadata,
    write_json,
)
from messages import Acknowledge, AlertFiring, AlertSummary, Severity, alert_labels, fingerprint
from supervision import ActorRef, ActorSystem, configure_logging

MODES = ("durable", "wal", "memory")
SYNCHRONOUS: dict[str, Synchronous] = {"durable": "full", "wal": "normal"}
"""SQLite's synchronous setting per mode (the headline is ``durable``: every commit fsynced)."""
_CHUNK = 1000
_ASK_TIMEOUT = 120.0
_DURABLE_TARGET = 30_000.0
_ACK_P99_TARGET_MS = 10.0


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much each round does, and how often rounds repeat."""

    rounds: int
    transitions: int
    open_alerts_for_dedup: int
    acks: int
    budget: float
    """Seconds any one load loop may run before it stops and reports what it did."""


FULL = Sizes(rounds=5, transitions=20_000, open_alerts_for_dedup=1_000, acks=300, budget=20.0)
QUICK = Sizes(rounds=3, transitions=2_000, open_alerts_for_dedup=200, acks=50, budget=1.0)


@dataclass(frozen=True, slots=True)
class Workloads:
    """Every event the rounds send, built once before any timing."""

    opening: list[AlertFiring]
    warm: list[AlertFiring]
    dedup: list[AlertFiring]
    ack_targets: list[AlertFiring]
    load: list[AlertFiring]

    @classmethod
    def build(cls, sizes: Sizes) -> Workloads:
        warm = firing_events(sizes.open_alerts_for_dedup, "d")
        return cls(
            opening=firing_events(sizes.transitions, "h"),
            warm=warm,
            dedup=[warm[i % len(warm)] for i in range(sizes.transitions)],
            ack_targets=firing_events(sizes.acks, "ack"),
            load=firing_events(sizes.transitions, "load"),
        )


def firing_events(count: int, prefix: str, rule: str = "HighCpu") -> list[AlertFiring]:
    """Return ``count`` firing events for distinct series (built before timing)."""
    events = []
    for index in range(count):
        labels = alert_labels(rule, {"team": "core"}, {"host": f"{prefix}{index}", "dc": "eu"})
        events.append(
            AlertFiring(
                rule_id=rule,
                labels=labels,
                fingerprint=fingerprint(labels),
                value=0.97,
                annotations={"summary": "CPU above 95%"},
                severity=Severity.CRITICAL,
                starts_at=1_700_000_000.0,
            )
        )
    return events


@dataclass(slots=True)
class Manager:
    """A manager running on a fresh store, for one round."""

    system: ActorSystem
    ref: ActorRef
    store: SqliteStore | MemoryStore

    async def status(self) -> ManagerStatus:
        status = await self.ref.ask(GetStatus(), timeout=_ASK_TIMEOUT)
        assert isinstance(status, ManagerStatus)
        return status


class _Running:
    def __init__(self, mode: str, directory: Path) -> None:
        self.mode = mode
        self.directory = directory
        self.store: SqliteStore | MemoryStore
        self.system: ActorSystem | None = None

    async def __aenter__(self) -> Manager:
        if self.mode != "memory":
            path = self.directory / f"am-{time.monotonic_ns()}.db"
            self.store = SqliteStore(path, synchronous=SYNCHRONOUS[self.mode])
        else:
            self.store = MemoryStore()
        await self.store.open()
        self.system = ActorSystem([alert_manager_spec(self.store)])
        await self.system.__aenter__()
        return Manager(self.system, self.system.lookup("alert-manager"), self.store)

    async def __aexit__(self, *exc: object) -> None:
        assert self.system is not None
        await self.system.__aexit__(None, None, None)
        await self.store.close()


async def tell_all(ref: ActorRef, events: Sequence[Any], deadline: Deadline) -> int:
    """Tell ``events`` in chunks, yielding between them as a steady producer would."""
    told = 0
    for start in range(0, len(events), _CHUNK):
        if deadline.expired():
            break
        for event in events[start : start + _CHUNK]:
            ref.tell(event)
        told = min(len(events), start + _CHUNK)
        await asyncio.sleep(0)
    return told


async def throughput(
    mode: str, workload: str, sizes: Sizes, loads: Workloads, directory: Path
) -> dict[str, float]:
    """Return transitions per second (wall and CPU) and per batch, for one round."""
    events, warm = (loads.opening, []) if workload == "open" else (loads.dedup, loads.warm)
    async with _Running(mode, directory) as manager:
        await tell_all(manager.ref, warm, Deadline(sizes.budget))
        before = await manager.status()
        gc.collect()
        start, cpu = time.perf_counter(), time.process_time()
        await tell_all(manager.ref, events, Deadline(sizes.budget))
        after = await manager.status()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    transitions = after.last_seq - before.last_seq
    batches = max(1, after.batches - before.batches)
    return {
        "per_s": transitions / elapsed,
        "per_cpu_s": transitions / max(cpu, 1e-9),
        "per_batch": transitions / batches,
    }


async def ack_latencies(
    mode: str, loaded: bool, sizes: Sizes, loads: Workloads, directory: Path
) -> list[float]:
    """Return the round trips (µs) of sequential acknowledgements, optionally under load."""
    async with _Running(mode, directory) as manager:
        await tell_all(manager.ref, loads.ack_targets, Deadline(sizes.budget))
        await manager.status()
        load: asyncio.Task[int] | None = None
        if loaded:
            stream = tell_all(manager.ref, loads.load, Deadline(sizes.budget))
            load = asyncio.ensure_future(stream)
        deadline = Deadline(sizes.budget)
        samples: list[float] = []
        for index in range(sizes.acks):
            if deadline.expired():
                break
            command = Acknowledge(alert_id=f"alert-{index + 1}", by="bench")
            start = time.perf_counter()
            reply = await manager.ref.ask(command, timeout=_ASK_TIMEOUT)
            samples.append((time.perf_counter() - start) * 1e6)
            assert isinstance(reply, AlertSummary), reply
        if load is not None:
            await load
        await manager.status()
    return samples


async def measure(sizes: Sizes) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    loads = Workloads.build(sizes)
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-am-") as name:
        directory = Path(name)
        for mode in MODES:
            for workload in ("open", "dedup"):
                rounds = [
                    await throughput(mode, workload, sizes, loads, directory)
                    for _ in range(sizes.rounds)
                ]
                figures[f"{mode}_{workload}_per_s"] = median([r["per_s"] for r in rounds])
                figures[f"{mode}_{workload}_per_cpu_s"] = median([r["per_cpu_s"] for r in rounds])
                figures[f"{mode}_{workload}_events_per_batch"] = median(
                    [r["per_batch"] for r in rounds]
                )
            for loaded in (False, True):
                label = f"{mode}_ack{'_loaded' if loaded else ''}"
                p50s, p99s = [], []
                for _ in range(sizes.rounds):
                    samples = await ack_latencies(mode, loaded, sizes, loads, directory)
                    p50s.append(percentile(samples, 50))
                    p99s.append(percentile(samples, 99))
                figures[f"{label}_p50_us"] = median(p50s)
                figures[f"{label}_p99_us"] = median(p99s)
    # The headline figures: the slower of the two transition workloads; idle ack p99.
    figures["durable_transitions_per_s"] = min(
        figures["durable_open_per_s"], figures["durable_dedup_per_s"]
    )
    figures["memory_transitions_per_s"] = min(
        figures["memory_open_per_s"], figures["memory_dedup_per_s"]
    )
    figures["durable_transitions_per_cpu_s"] = min(
        figures["durable_open_per_cpu_s"], figures["durable_dedup_per_cpu_s"]
    )
    figures["ack_p50_ms"] = figures["durable_ack_p50_us"] / 1000
    figures["ack_p99_ms"] = figures["durable_ack_p99_us"] / 1000
    figures["wal_transitions_per_s"] = min(figures["wal_open_per_s"], figures["wal_dedup_per_s"])
    figures["wal_ack_p99_ms"] = figures["wal_ack_p99_us"] / 1000
    return figures


def table(figures: dict[str, Any], targets: dict[str, Target]) -> str:
    rows = []
    for mode in MODES:
        for workload, what in (("open", "new alerts"), ("dedup", "dedup hits")):
            rate = figures[f"{mode}_{workload}_per_s"]
            per_cpu = figures[f"{mode}_{workload}_per_cpu_s"]
            batch = figures[f"{mode}_{workload}_events_per_batch"]
            target = targets.get(f"{mode}_{workload}")
            rows.append(
                [
                    f"{mode}: {what}",
                    format_rate(rate),
                    f"{format_rate(per_cpu)} per CPU-s, {batch:,.0f} events/batch",
                    "" if target is None else f"{target.text}: {target.mark}",
                ]
            )
        for suffix, what in (("", "ack round trip, idle"), ("_loaded", "ack round trip, loaded")):
            p50 = figures[f"{mode}_ack{suffix}_p50_us"]
            p99 = figures[f"{mode}_ack{suffix}_p99_us"]
            target = targets.get(f"{mode}_ack{suffix}")
            rows.append(
                [
                    f"{mode}: {what}",
                    f"p50 {format_us(p50)}",
                    f"p99 {format_us(p99)}",
                    "" if target is None else f"{target.text}: {target.mark}",
                ]
            )
    return render_table(
        ["workload", "rate / p50", "per CPU-second, batching / p99", "target"], rows
    )


def main() -> None:
    arguments = parse_arguments(__doc__.splitlines()[0] if __doc__ else "")
    configure_logging("critical")
    sizes = QUICK if arguments.quick else FULL
    started = time.perf_counter()
    figures = asyncio.run(measure(sizes))
    durable = figures["durable_transitions_per_s"]
    targets = {
        "durable_open": Target.at_least(
            figures["durable_open_per_s"], _DURABLE_TARGET, "≥ 30k/s durable"
        ),
        "durable_dedup": Target.at_least(
            figures["durable_dedup_per_s"], _DURABLE_TARGET, "≥ 30k/s durable"
        ),
        "durable_ack": Target.at_most(figures["ack_p99_ms"], _ACK_P99_TARGET_MS, "p99 ≤ 10 ms"),
        "wal_open": Target.at_least(figures["wal_open_per_s"], _DURABLE_TARGET, "≥ 30k/s"),
        "wal_dedup": Target.at_least(figures["wal_dedup_per_s"], _DURABLE_TARGET, "≥ 30k/s"),
        "wal_ack": Target.at_most(figures["wal_ack_p99_ms"], _ACK_P99_TARGET_MS, "p99 ≤ 10 ms"),
    }
    print(table(figures, targets))
    print(
        f"\nheadline: durable (SQLite WAL, synchronous={SYNCHRONOUS['durable']}, group commit) "
        f"{format_rate(durable)} "
        f"({format_rate(figures['durable_transitions_per_cpu_s'])} per CPU-second), "
        f"memory {format_rate(figures['memory_transitions_per_s'])}, "
        f"ack p99 {figures['ack_p99_ms']:.2f} ms ({time.perf_counter() - started:.1f} s)"
    )
    if arguments.json:
        write_json(
            arguments.json,
            {
                **figures,
                "durable_synchronous": SYNCHRONOUS["durable"],
                "wal_synchronous": SYNCHRONOUS["wal"],
                "targets": {name: target.as_json() for name, target in targets.items()},
                "meta": run_metadata(arguments.quick, {"rounds": sizes.rounds}),
            },
        )


if __name__ == "__main__":
    main()
