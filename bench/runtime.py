"""Benchmark Tocsin's actor runtime against stock pykka ThreadingActor, in the same run.

Run from the repository root in the project's environment::

    python bench/runtime.py [--quick] [--json PATH]

Workloads, each repeated for a few rounds (Tocsin and pykka alternating) with medians
reported: tell 1→1, fan-in 100→1, ask round trip, starting 1k and 10k actors (both
runtimes); starting 100k actors, memory per idle actor and restart latency (Tocsin alone:
pykka has no supervision and needs one OS thread per actor). ``main`` sets logging to
``critical`` so that the restart figures measure the runtime, not the crash log. Every
load loop is bounded in count and in time (``Sizes.budget``); a loop cut short is noted.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.metadata
import math
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import psutil
import pykka

from bench._report import (
    Deadline,
    MachineLoad,
    Target,
    format_bytes,
    format_rate,
    format_ratio,
    format_seconds,
    format_us,
    median,
    parse_arguments,
    percentile,
    render_table,
    run_metadata,
    write_json,
)
from supervision import Actor, ActorRef, ActorSystem, ChildSpec, Supervisor, configure_logging

# Tells sent between two checks of the time budget (and, for a coroutine, between yields).
_CHUNK = 1000
# Asks sent before the timed ones, so that first-use costs do not land in the tail.
_WARMUP_ASKS = 100
_TICK = "tick"
_BOOM = "boom"
# Restarts are the workload here, not a failure: nothing may escalate.
_UNLIMITED = 10**9


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much work each workload does and how often it is repeated."""

    rounds: int
    """Rounds of tell, fan-in, ask and restart."""
    tell_messages: int
    fan_in_producers: int
    fan_in_messages_per_producer: int
    asks: int
    restarts: int
    start_small: int
    start_large: int
    start_rounds: int
    pykka_start_large_rounds: int
    """Rounds of starting ``start_large`` ThreadingActors (one OS thread each: slow)."""
    many_actors: int
    many_rounds: int
    many_spawn_rounds: int
    """Rounds of starting ``many_actors`` with one ``system.spawn`` ask each (slow)."""
    memory_actors: int
    budget: float
    """Seconds any one load loop may run before it stops and reports what it did."""


FULL = Sizes(
    rounds=5,
    tell_messages=200_000,
    fan_in_producers=100,
    fan_in_messages_per_producer=2_000,
    asks=20_000,
    restarts=2_000,
    start_small=1_000,
    start_large=10_000,
    start_rounds=3,
    pykka_start_large_rounds=1,
    many_actors=100_000,
    many_rounds=3,
    many_spawn_rounds=1,
    memory_actors=100_000,
    budget=40.0,
)
QUICK = Sizes(
    rounds=3,
    tell_messages=100_000,
    fan_in_producers=100,
    fan_in_messages_per_producer=500,
    asks=5_000,
    restarts=1_000,
    start_small=1_000,
    start_large=10_000,
    start_rounds=1,
    pykka_start_large_rounds=0,
    many_actors=100_000,
    many_rounds=1,
    many_spawn_rounds=0,
    memory_actors=10_000,
    budget=10.0,
)


# -- what both runtimes share ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Throughput:
    """Messages per second of wall-clock and of the process's CPU time.

    ``complete`` is False when the time budget cut the run short. Per CPU-second is what a
    shared machine cannot blur: how much CPU each runtime burns per message.
    """

    per_second: float
    per_cpu_second: float
    complete: bool


@dataclass(frozen=True, slots=True)
class Latencies:
    """Percentiles of one round of round trips, in microseconds.

    ``p99_cpu_us`` is the 99th percentile of the thread's CPU time over the same round
    trips: the latency without the time the OS gave to other processes (NaN if not
    measured). On a shared machine the wall-clock tail is mostly preemption.
    """

    p50_us: float
    p99_us: float
    p99_cpu_us: float
    count: int
    complete: bool

    @classmethod
    def of(
        cls, samples_us: Sequence[float], wanted: int, cpu_us: Sequence[float] = ()
    ) -> Latencies:
        """Summarize ``samples_us``; complete if all ``wanted`` round trips were timed."""
        p50, p99 = percentile(samples_us, 50), percentile(samples_us, 99)
        count = len(samples_us)
        return cls(p50, p99, percentile(cpu_us, 99), count, count == wanted)


@dataclass(frozen=True, slots=True)
class Startup:
    """Seconds to start ``started`` of ``wanted`` actors, and to stop them afterwards.

    ``cpu_seconds`` is the process's CPU time for the start (all threads).
    """

    seconds: float
    cpu_seconds: float
    stop_seconds: float
    started: int
    wanted: int

    @property
    def complete(self) -> bool:
        """Return True if every wanted actor was started within the budget."""
        return self.started == self.wanted


@dataclass(frozen=True, slots=True)
class Footprint:
    """Memory per idle actor: Python allocations (tracemalloc) and resident set growth."""

    traced_bytes_per_actor: float
    rss_bytes_per_actor: float
    actors: int


class _Tally:
    """Count deliveries; note when the ``expected``-th arrived and call ``notify``."""

    __slots__ = ("count", "expected", "finished", "notify", "started")

    def __init__(self, expected: int, notify: Callable[[], object]) -> None:
        self.count = 0
        self.expected = expected
        self.notify = notify
        self.started = self.finished = (0.0, 0.0)

    def start(self) -> None:
        """Note the wall-clock and CPU time the first message is sent at."""
        self.started = (time.perf_counter(), time.process_time())

    def finish(self) -> None:
        self.finished = (time.perf_counter(), time.process_time())
        self.notify()

    def throughput(self) -> Throughput:
        """Return the rates from ``start`` to ``finish`` (to now, if cut short)."""
        complete = self.count >= self.expected
        wall, cpu = self.finished if complete else (time.perf_counter(), time.process_time())
        count = self.expected if complete else self.count
        wall_rate = count / (wall - self.started[0])
        return Throughput(wall_rate, count / max(cpu - self.started[1], 1e-9), complete)


class _Teller(Protocol):
    def tell(self, message: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class _Produce:
    """Tell a producer to send ``count`` ticks to ``sink``."""

    sink: _Teller
    count: int
    deadline: Deadline


# -- Tocsin ----------------------------------------------------------------------------------


def _system() -> ActorSystem:
    return ActorSystem(name="bench", intensity=_UNLIMITED, period=1.0)


def _pool(children: Sequence[ChildSpec] = ()) -> Callable[[], Actor]:
    def factory() -> Actor:
        return Supervisor(children, intensity=_UNLIMITED, period=1.0)

    return factory


class _TocsinCounter(Actor):
    def __init__(self, tally: _Tally) -> None:
        self.tally = tally

    async def on_receive(self, message: object) -> None:
        tally = self.tally
        tally.count += 1
        if tally.count == tally.expected:
            tally.finish()


class _TocsinProducer(Actor):
    async def on_receive(self, message: _Produce) -> None:
        tell = message.sink.tell
        remaining = message.count
        while remaining and not message.deadline.expired():
            chunk = min(_CHUNK, remaining)
            for _ in range(chunk):
                tell(_TICK)
            remaining -= chunk
            await asyncio.sleep(0)  # a coroutine producer lets the others run between bursts


class _TocsinEcho(Actor):
    async def on_receive(self, message: object) -> object:
        return message


class _TocsinIdle(Actor):
    pass


class _Boom(Exception):
    """The crash the restart workload asks for."""


class _Crasher(Actor):
    async def on_receive(self, message: object) -> None:
        if message is _BOOM:
            raise _Boom
        if isinstance(message, asyncio.Future) and not message.done():
            message.set_result(None)


async def tocsin_tell(messages: int, budget: float) -> Throughput:
    """Tell ``messages`` ticks from one coroutine to one actor; time until all handled."""
    async with _system() as system:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        tally = _Tally(messages, lambda: done.set_result(None))
        tell = (await system.spawn(lambda: _TocsinCounter(tally), "sink")).tell
        deadline = Deadline(budget)
        tally.start()
        sent = 0
        while sent < messages and not deadline.expired():
            chunk = min(_CHUNK, messages - sent)
            for _ in range(chunk):
                tell(_TICK)
            sent += chunk
            await asyncio.sleep(0)
        await asyncio.wait([done], timeout=deadline.remaining())
        return tally.throughput()


async def tocsin_fan_in(producers: int, per_producer: int, budget: float) -> Throughput:
    """Have ``producers`` actors tell ``per_producer`` ticks each to one sink actor."""
    async with _system() as system:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        tally = _Tally(producers * per_producer, lambda: done.set_result(None))
        sink = await system.spawn(lambda: _TocsinCounter(tally), "sink")
        refs = [await system.spawn(_TocsinProducer, f"producer-{i}") for i in range(producers)]
        deadline = Deadline(budget)
        tally.start()
        for ref in refs:
            ref.tell(_Produce(sink, per_producer, deadline))
        await asyncio.wait([done], timeout=deadline.remaining())
        return tally.throughput()


async def tocsin_ask(asks: int, budget: float) -> Latencies:
    """Ask an echo actor ``asks`` times in sequence (default ask timeout) and time each."""
    async with _system() as system:
        ask = (await system.spawn(_TocsinEcho, "echo")).ask
        for _ in range(_WARMUP_ASKS):
            await ask(_TICK)
        clock, on_cpu = time.perf_counter_ns, time.thread_time_ns
        samples: list[float] = []
        cpu: list[float] = []
        deadline = Deadline(budget)
        for _ in range(asks):
            if deadline.expired():
                break
            used = on_cpu()
            sent = clock()
            await ask(_TICK)
            samples.append((clock() - sent) / 1000)
            cpu.append((on_cpu() - used) / 1000)
        return Latencies.of(samples, asks, cpu)


async def tocsin_restart(restarts: int, budget: float) -> tuple[Latencies, int]:
    """Crash a supervised actor ``restarts`` times; time each boom → next message handled.

    The message after the boom is a future that the restarted instance resolves. Returns
    the latencies and how many crashes the dead letters recorded: one per restart.
    """
    async with _system() as system:
        await system.start_child(ChildSpec("restarts", _pool([ChildSpec("crasher", _Crasher)])))
        ref: ActorRef = system.lookup("/restarts/crasher")
        crashed_before = system.dead_letters.by_reason["crashed"]
        loop = asyncio.get_running_loop()
        clock, on_cpu = time.perf_counter_ns, time.thread_time_ns
        samples: list[float] = []
        cpu: list[float] = []
        try:
            async with asyncio.timeout(budget):
                for _ in range(restarts):
                    answered: asyncio.Future[None] = loop.create_future()
                    used = on_cpu()
                    sent = clock()
                    ref.tell(_BOOM)
                    ref.tell(answered)
                    await answered
                    samples.append((clock() - sent) / 1000)
                    cpu.append((on_cpu() - used) / 1000)
        except TimeoutError:
            pass  # cut short: Latencies.of notes it
        crashes = system.dead_letters.by_reason["crashed"] - crashed_before
        return Latencies.of(samples, restarts, cpu), crashes


async def tocsin_start(count: int, budget: float) -> Startup:
    """Start ``count`` idle actors with ``system.spawn`` (one ask each) under a supervisor."""
    async with _system() as system:
        pool = await system.spawn(_pool(), "pool")
        deadline = Deadline(budget)
        started = 0
        began, began_cpu = time.perf_counter(), time.process_time()
        for index in range(count):
            if deadline.expired():
                break
            await system.spawn(_TocsinIdle, f"a{index}", parent=pool)
            started += 1
        seconds, cpu = time.perf_counter() - began, time.process_time() - began_cpu
        began = time.perf_counter()
        await system.shutdown()
        return Startup(seconds, cpu, time.perf_counter() - began, started, count)


async def tocsin_start_bulk(count: int, budget: float) -> Startup:
    """Start ``count`` idle actors as the initial children of one new supervisor.

    One ``StartChild`` ask (timeout: the budget); the supervisor's ``on_start`` starts
    the children in order. The time includes building the child specs.
    """
    async with _system() as system:
        began, began_cpu = time.perf_counter(), time.process_time()
        specs = [ChildSpec(f"a{index}", _TocsinIdle) for index in range(count)]
        started = count
        try:
            await system.start_child(ChildSpec("pool", _pool(specs)), timeout=budget)
        except TimeoutError:
            started = len(system.paths()) - 2  # less the root and the pool
        seconds, cpu = time.perf_counter() - began, time.process_time() - began_cpu
        began = time.perf_counter()
        await system.shutdown()
        return Startup(seconds, cpu, time.perf_counter() - began, started, count)


async def _grow(count: int, budget: float, traced: bool) -> float:
    """Bulk-start ``count`` idle actors and return the bytes they added.

    ``traced``: the Python allocations tracemalloc sees (tracing only while the actors
    start, not while they stop); otherwise the growth of the resident set.
    """
    process = psutil.Process()

    def memory() -> float:
        return float(tracemalloc.get_traced_memory()[0] if traced else process.memory_info().rss)

    async with _system() as system:
        factory = _pool([ChildSpec(f"a{index}", _TocsinIdle) for index in range(count)])
        gc.collect()
        if traced:
            tracemalloc.start()
        try:
            before = memory()
            await system.start_child(ChildSpec("pool", factory), timeout=budget)
            for _ in range(3):
                await asyncio.sleep(0)  # every task has reached its first wait for a message
            gc.collect()
            return memory() - before
        finally:
            if traced:
                tracemalloc.stop()


def tocsin_footprint(count: int, budget: float) -> Footprint:
    """Measure the memory of ``count`` idle actors; call it before any other workload.

    Resident set growth first, without tracemalloc (its own bookkeeping would inflate
    it) and before the process has grown and freed a large heap; then the Python
    allocations tracemalloc sees. The child specs exist before the baseline and are not
    counted; everything a started actor adds is (cell, ref, mailbox, instance, registry
    entries; plus task and coroutines once it has received a message or if it has an
    on_start or on_stop).
    """
    rss = asyncio.run(_grow(count, budget, traced=False))
    traced = asyncio.run(_grow(count, budget, traced=True))
    return Footprint(traced / count, rss / count, count)


# -- pykka -----------------------------------------------------------------------------------


class _PykkaCounter(pykka.ThreadingActor):
    def __init__(self, tally: _Tally) -> None:
        super().__init__()
        self.tally = tally

    def on_receive(self, message: Any) -> None:
        tally = self.tally
        tally.count += 1
        if tally.count == tally.expected:
            tally.finish()


class _PykkaProducer(pykka.ThreadingActor):
    def on_receive(self, message: Any) -> None:
        tell = message.sink.tell
        remaining = message.count
        while remaining and not message.deadline.expired():
            chunk = min(_CHUNK, remaining)
            for _ in range(chunk):
                tell(_TICK)
            remaining -= chunk


class _PykkaEcho(pykka.ThreadingActor):
    def on_receive(self, message: Any) -> Any:
        return message


class _PykkaIdle(pykka.ThreadingActor):
    pass


def _pykka_stop(refs: Sequence[pykka.ActorRef[Any]], budget: float) -> None:
    """Stop ``refs`` and wait (within ``budget``) until their threads have exited."""
    deadline = Deadline(budget)
    baseline = threading.active_count() - len(refs)
    for future in [ref.stop(block=False) for ref in refs]:
        future.get(timeout=max(deadline.remaining(), 1.0))
    while threading.active_count() > baseline and not deadline.expired():
        time.sleep(0.001)


def pykka_tell(messages: int, budget: float) -> Throughput:
    """Tell ``messages`` ticks from the main thread to one ThreadingActor."""
    done = threading.Event()
    tally = _Tally(messages, done.set)
    ref = _PykkaCounter.start(tally)
    try:
        tell = ref.tell
        deadline = Deadline(budget)
        tally.start()
        sent = 0
        while sent < messages and not deadline.expired():
            chunk = min(_CHUNK, messages - sent)
            for _ in range(chunk):
                tell(_TICK)
            sent += chunk
        done.wait(deadline.remaining())
        return tally.throughput()
    finally:
        _pykka_stop([ref], budget)


def pykka_fan_in(producers: int, per_producer: int, budget: float) -> Throughput:
    """Have ``producers`` ThreadingActors tell ``per_producer`` ticks each to one sink."""
    done = threading.Event()
    tally = _Tally(producers * per_producer, done.set)
    sink = _PykkaCounter.start(tally)
    refs = [_PykkaProducer.start() for _ in range(producers)]
    try:
        deadline = Deadline(budget)
        tally.start()
        for ref in refs:
            ref.tell(_Produce(sink, per_producer, deadline))
        done.wait(deadline.remaining())
        return tally.throughput()
    finally:
        _pykka_stop([*refs, sink], budget)


def pykka_ask(asks: int, budget: float) -> Latencies:
    """Ask a ThreadingActor ``asks`` times in sequence from the main thread (blocking)."""
    ref = _PykkaEcho.start()
    try:
        ask = ref.ask
        for _ in range(_WARMUP_ASKS):
            ask(_TICK)
        clock = time.perf_counter_ns
        samples: list[float] = []
        deadline = Deadline(budget)
        for _ in range(asks):
            if deadline.expired():
                break
            sent = clock()
            ask(_TICK)
            samples.append((clock() - sent) / 1000)
        return Latencies.of(samples, asks)
    finally:
        _pykka_stop([ref], budget)


def pykka_start(count: int, budget: float) -> Startup:
    """Start ``count`` idle ThreadingActors (one thread each), then stop them all."""
    refs: list[pykka.ActorRef[Any]] = []
    deadline = Deadline(budget)
    began, began_cpu = time.perf_counter(), time.process_time()
    try:
        for _ in range(count):
            if deadline.expired():
                break
            refs.append(_PykkaIdle.start())
        seconds, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    finally:
        stopping = time.perf_counter()
        _pykka_stop(refs, budget)
    return Startup(seconds, cpu, time.perf_counter() - stopping, len(refs), count)


# -- the run ---------------------------------------------------------------------------------


_STARTED = time.perf_counter()


def _progress(text: str) -> None:
    elapsed = f"{time.perf_counter() - _STARTED:5.1f} s (cpu {time.process_time():5.1f} s)"
    print(f"  … {elapsed}  {text}", file=sys.stderr, flush=True)


def _fresh() -> None:
    # Every sample starts without the previous one's garbage pending.
    gc.collect()


def _ratio(numerator: float, denominator: float) -> float:
    if math.isnan(numerator) or math.isnan(denominator) or denominator == 0:
        return math.nan
    return numerator / denominator


def measure(sizes: Sizes) -> tuple[dict[str, list[Any]], Footprint]:
    """Run every workload; return the samples of each (rounds in order) and the footprint.

    Tocsin and pykka alternate within a round so that the machine's noise hits both.
    """
    budget = sizes.budget
    samples: dict[str, list[Any]] = {}

    def sample(name: str, value: Any) -> None:
        samples.setdefault(name, []).append(value)

    _progress(f"memory of {sizes.memory_actors:,} idle actors")
    footprint = tocsin_footprint(sizes.memory_actors, budget)

    producers, each = sizes.fan_in_producers, sizes.fan_in_messages_per_producer
    for number in range(1, sizes.rounds + 1):
        _progress(f"round {number}/{sizes.rounds}: tell, fan-in, ask, restart")
        rounds: list[tuple[str, Callable[[], Any]]] = [
            ("tell", lambda: asyncio.run(tocsin_tell(sizes.tell_messages, budget))),
            ("pykka_tell", lambda: pykka_tell(sizes.tell_messages, budget)),
            ("fan_in", lambda: asyncio.run(tocsin_fan_in(producers, each, budget))),
            ("pykka_fan_in", lambda: pykka_fan_in(producers, each, budget)),
            ("ask", lambda: asyncio.run(tocsin_ask(sizes.asks, budget))),
            ("pykka_ask", lambda: pykka_ask(sizes.asks, budget)),
        ]
        for name, workload in rounds:
            _fresh()
            sample(name, workload())
        _fresh()
        restart, crashes = asyncio.run(tocsin_restart(sizes.restarts, budget))
        sample("restart", restart)
        sample("restart_crashes", crashes)

    for label, count, pykka_rounds in (
        ("1k", sizes.start_small, sizes.start_rounds),
        ("10k", sizes.start_large, min(sizes.start_rounds, sizes.pykka_start_large_rounds)),
    ):
        for number in range(1, sizes.start_rounds + 1):
            _progress(f"start {count:,} actors, round {number}/{sizes.start_rounds}")
            _fresh()
            sample(f"start_{label}", asyncio.run(tocsin_start(count, budget)))
            if number <= pykka_rounds:
                _fresh()
                sample(f"pykka_start_{label}", pykka_start(count, budget))

    for number in range(1, sizes.many_rounds + 1):
        _progress(f"start {sizes.many_actors:,} actors, round {number}/{sizes.many_rounds}")
        _fresh()
        sample("start_100k_bulk", asyncio.run(tocsin_start_bulk(sizes.many_actors, budget)))
        if number <= sizes.many_spawn_rounds:
            _fresh()
            sample("start_100k_spawn", asyncio.run(tocsin_start(sizes.many_actors, budget)))
    return samples, footprint


def summarize(
    samples: dict[str, list[Any]], footprint: Footprint, sizes: Sizes, quick: bool
) -> dict[str, Any]:
    """Return the figures (medians over rounds), targets, notes and metadata as JSON."""

    def mid(name: str, field: str) -> float:
        return median([getattr(one, field) for one in samples.get(name, [])])

    figures: dict[str, Any] = {
        "tell_msgs_per_s": mid("tell", "per_second"),
        "pykka_tell_msgs_per_s": mid("pykka_tell", "per_second"),
        "fan_in_msgs_per_s": mid("fan_in", "per_second"),
        "tell_msgs_per_cpu_s": mid("tell", "per_cpu_second"),
        "pykka_tell_msgs_per_cpu_s": mid("pykka_tell", "per_cpu_second"),
        "fan_in_msgs_per_cpu_s": mid("fan_in", "per_cpu_second"),
        "pykka_fan_in_msgs_per_cpu_s": mid("pykka_fan_in", "per_cpu_second"),
        "pykka_fan_in_msgs_per_s": mid("pykka_fan_in", "per_second"),
        "ask_p50_us": mid("ask", "p50_us"),
        "ask_p99_us": mid("ask", "p99_us"),
        "ask_p99_cpu_us": mid("ask", "p99_cpu_us"),
        "pykka_ask_p50_us": mid("pykka_ask", "p50_us"),
        "pykka_ask_p99_us": mid("pykka_ask", "p99_us"),
        "restart_p50_us": mid("restart", "p50_us"),
        "restart_p99_us": mid("restart", "p99_us"),
        "restart_p99_cpu_us": mid("restart", "p99_cpu_us"),
        "restarts_observed": sum(samples.get("restart_crashes", [])),
        "bytes_per_actor": footprint.traced_bytes_per_actor,
        "rss_bytes_per_actor": footprint.rss_bytes_per_actor,
        "start_100k_s": mid("start_100k_bulk", "seconds"),
        "start_100k_spawn_s": mid("start_100k_spawn", "seconds"),
        "start_100k_cpu_s": mid("start_100k_bulk", "cpu_seconds"),
        "start_100k_spawn_cpu_s": mid("start_100k_spawn", "cpu_seconds"),
        "stop_100k_s": mid("start_100k_bulk", "stop_seconds"),
    }
    for label in ("1k", "10k"):
        for prefix in ("", "pykka_"):
            figures[f"{prefix}start_{label}_s"] = mid(f"{prefix}start_{label}", "seconds")
            figures[f"{prefix}stop_{label}_s"] = mid(f"{prefix}start_{label}", "stop_seconds")
            figures[f"{prefix}start_{label}_cpu_s"] = mid(f"{prefix}start_{label}", "cpu_seconds")
    # Every ratio reads "Tocsin is N times better": rate over rate, pykka time over Tocsin time.
    for name, key, higher_is_better in (
        ("tell", "tell_msgs_per_s", True),
        ("fan_in", "fan_in_msgs_per_s", True),
        ("tell_cpu", "tell_msgs_per_cpu_s", True),
        ("fan_in_cpu", "fan_in_msgs_per_cpu_s", True),
        ("ask_p50", "ask_p50_us", False),
        ("ask_p99", "ask_p99_us", False),
        ("start_1k", "start_1k_s", False),
        ("start_10k", "start_10k_s", False),
    ):
        ours, theirs = figures[key], figures[f"pykka_{key}"]
        figures[f"{name}_ratio_vs_pykka"] = (
            _ratio(ours, theirs) if higher_is_better else _ratio(theirs, ours)
        )

    targets = {
        "tell_ratio_vs_pykka": Target.at_least(figures["tell_ratio_vs_pykka"], 10, "≥ 10x pykka"),
        "tell_msgs_per_s": Target.at_least(figures["tell_msgs_per_s"], 1e6, "aim ≥ 1M/s"),
        "ask_p99_us": Target.at_most(figures["ask_p99_us"], 100, "≤ 100 µs"),
        "bytes_per_actor": Target.at_most(figures["bytes_per_actor"], 4096, "≤ 4 KB"),
        "start_100k_s": Target.at_most(figures["start_100k_s"], 3, "≤ 3 s"),
        "start_100k_spawn_s": Target.at_most(figures["start_100k_spawn_s"], 3, "≤ 3 s"),
        "restart_p99_us": Target.at_most(figures["restart_p99_us"], 1000, "≤ 1 ms"),
    }
    notes: list[str] = []
    many_spawn = min(sizes.many_rounds, sizes.many_spawn_rounds)
    if many_spawn < sizes.many_rounds:
        notes.append(
            f"start {sizes.many_actors:,} by spawn: "
            + (f"{many_spawn} round(s) only" if many_spawn else "full run only")
            + " (one ask per actor; with the stop, ~15 s of CPU)"
        )
    pykka_large = min(sizes.start_rounds, sizes.pykka_start_large_rounds)
    if pykka_large < sizes.start_rounds:
        notes.append(
            f"pykka start {sizes.start_large:,}: "
            + (f"{pykka_large} round(s) only" if pykka_large else "skipped in --quick")
            + " (one OS thread per actor: ~15 s to start 10k, ~9 s to stop them, here)"
        )
    probes = sum(one.count for one in samples.get("restart", []))
    if figures["restarts_observed"] != probes:
        notes.append(f"restart: {figures['restarts_observed']} crashes for {probes} probes")
    for name, runs in samples.items():
        cut = sum(1 for one in runs if not getattr(one, "complete", True))
        if cut:
            notes.append(f"{name}: {cut} of {len(runs)} round(s) cut short by the time budget")

    figures["targets"] = {name: target.as_json() for name, target in targets.items()}
    figures["notes"] = notes
    figures["samples"] = {
        name: [one if isinstance(one, int) else asdict(one) for one in runs]
        for name, runs in samples.items()
    }
    figures["metadata"] = run_metadata(
        quick,
        {
            "tell_fan_in_ask_restart": sizes.rounds,
            "start_1k": sizes.start_rounds,
            "start_10k": sizes.start_rounds,
            "pykka_start_10k": pykka_large,
            "start_100k": sizes.many_rounds,
            "start_100k_spawn": many_spawn,
            "memory": 1,
        },
        sizes=asdict(sizes),
        pykka=importlib.metadata.version("pykka"),
        statistic="median over rounds; latency percentiles per round, then their median",
        bytes_per_actor="tracemalloc; rss_bytes_per_actor is the resident set growth",
        start_100k_s="bulk: one supervisor started with 100k child specs (one ask)",
    )
    return figures


def run(sizes: Sizes, quick: bool = False) -> dict[str, Any]:
    """Measure at ``sizes`` and return the JSON document (figures, targets, samples)."""
    samples, footprint = measure(sizes)
    return summarize(samples, footprint, sizes, quick)


def render(figures: dict[str, Any]) -> str:
    """Return the table, with targets and notes, that ``main`` prints for ``figures``."""
    targets = {name: Target(**spec) for name, spec in figures["targets"].items()}
    sizes = Sizes(**figures["metadata"]["sizes"])

    def row(
        label: str,
        ours: str,
        theirs: str = "n/a",
        ratio: str | None = None,
        *goals: str,
    ) -> tuple[str, ...]:
        chosen = [targets[name] for name in goals]
        return (
            label,
            ours,
            theirs,
            "" if ratio is None else format_ratio(figures[ratio]),
            "; ".join(target.text for target in chosen),
            " ".join(target.mark for target in chosen),
        )

    f = figures
    fan_in = sizes.fan_in_producers * sizes.fan_in_messages_per_producer
    spawn = f["start_100k_spawn_s"]
    rows = [
        row(
            f"tell 1→1 ({sizes.tell_messages:,} msgs)",
            format_rate(f["tell_msgs_per_s"]),
            format_rate(f["pykka_tell_msgs_per_s"]),
            "tell_ratio_vs_pykka",
            "tell_ratio_vs_pykka",
            "tell_msgs_per_s",
        ),
        row(
            "  the same, per CPU-second",
            format_rate(f["tell_msgs_per_cpu_s"]),
            format_rate(f["pykka_tell_msgs_per_cpu_s"]),
            "tell_cpu_ratio_vs_pykka",
        ),
        row(
            f"fan-in {sizes.fan_in_producers}→1 ({fan_in:,} msgs)",
            format_rate(f["fan_in_msgs_per_s"]),
            format_rate(f["pykka_fan_in_msgs_per_s"]),
            "fan_in_ratio_vs_pykka",
        ),
        row(
            "  the same, per CPU-second",
            format_rate(f["fan_in_msgs_per_cpu_s"]),
            format_rate(f["pykka_fan_in_msgs_per_cpu_s"]),
            "fan_in_cpu_ratio_vs_pykka",
        ),
        row(
            f"ask round trip p50 ({sizes.asks:,} asks)",
            format_us(f["ask_p50_us"]),
            format_us(f["pykka_ask_p50_us"]),
            "ask_p50_ratio_vs_pykka",
        ),
        row(
            "ask round trip p99",
            format_us(f["ask_p99_us"]),
            format_us(f["pykka_ask_p99_us"]),
            "ask_p99_ratio_vs_pykka",
            "ask_p99_us",
        ),
        row("  the same, on-CPU time", format_us(f["ask_p99_cpu_us"])),
        row(
            f"start {sizes.start_small:,} actors (spawn: 1 ask each)",
            format_seconds(f["start_1k_s"]),
            format_seconds(f["pykka_start_1k_s"]),
            "start_1k_ratio_vs_pykka",
        ),
        row(
            f"start {sizes.start_large:,} actors (spawn: 1 ask each)",
            format_seconds(f["start_10k_s"]),
            "skipped"
            if math.isnan(f["pykka_start_10k_s"])
            else format_seconds(f["pykka_start_10k_s"]),
            "start_10k_ratio_vs_pykka",
        ),
        row(
            f"start {sizes.many_actors:,} actors (bulk: 1 supervisor)",
            format_seconds(f["start_100k_s"]),
            "n/a",
            None,
            "start_100k_s",
        ),
        row("  the same, CPU time", format_seconds(f["start_100k_cpu_s"])),
        row(
            f"start {sizes.many_actors:,} actors (spawn: 1 ask each)",
            "skipped" if math.isnan(spawn) else format_seconds(spawn),
            "n/a",
            None,
            *(() if math.isnan(spawn) else ("start_100k_spawn_s",)),
        ),
        row(
            "  the same, CPU time",
            "skipped" if math.isnan(spawn) else format_seconds(f["start_100k_spawn_cpu_s"]),
        ),
        row(
            f"memory per idle actor, tracemalloc ({sizes.memory_actors:,})",
            format_bytes(f["bytes_per_actor"]),
            "n/a",
            None,
            "bytes_per_actor",
        ),
        row(
            f"memory per idle actor, RSS growth ({sizes.memory_actors:,})",
            format_bytes(f["rss_bytes_per_actor"]),
        ),
        row(
            f"restart latency p50 ({sizes.restarts:,} restarts)",
            format_us(f["restart_p50_us"]),
            "n/a (no supervision)",
        ),
        row("restart latency p99", format_us(f["restart_p99_us"]), "n/a", None, "restart_p99_us"),
        row("  the same, on-CPU time", format_us(f["restart_p99_cpu_us"])),
    ]
    meta = figures["metadata"]
    rounds = ", ".join(f"{name} {count}" for name, count in meta["rounds"].items())
    headers = ("workload", "tocsin", f"pykka {meta['pykka']}", "x pykka", "target", "")
    return "\n".join(
        [
            f"Tocsin runtime vs pykka ThreadingActor — Python {meta['python']}, "
            f"{meta['cpus']} CPUs, {'--quick' if meta['quick'] else 'full run'}, {meta['date']}",
            f"Medians over rounds ({rounds}).",
            "",
            render_table(headers, rows),
            "",
            "x pykka: how many times better Tocsin is (rate ratio, or pykka time / Tocsin time).",
            "per CPU-second / CPU time: this process's CPU time (all threads); on-CPU time:",
            "the thread's CPU time over the same round trips. They leave out the time the OS",
            "ran other processes, which on a shared machine blurs the wall-clock figures.",
            "start_100k_s (headline) is the bulk path: one supervisor started with 100k child",
            "specs by one ask. bytes_per_actor (headline) is tracemalloc: the Python allocations",
            "of a started idle actor (cell, ref, mailbox, instance, registry); an actor with",
            "no on_start/on_stop gets its task with its first message.",
            f"Logging: {meta.get('logging', 'as the caller configured it')}; restarts observed",
            f"(crash dead letters): {f['restarts_observed']:,}.",
            *(f"Note: {note}." for note in figures["notes"]),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table, write JSON if asked; a missed target is not fatal."""
    arguments = parse_arguments("Benchmark the runtime against pykka ThreadingActor.", argv)
    configure_logging("critical")  # the restart workload would otherwise log every crash
    sizes = QUICK if arguments.quick else FULL
    load = MachineLoad()
    figures = run(sizes, quick=arguments.quick)
    figures["metadata"]["logging"] = "critical only (crash logs off during the restarts)"
    figures["metadata"]["machine"] = load.summary()
    print(render(figures))
    print(MachineLoad.describe(figures["metadata"]["machine"]))
    if arguments.json is not None:
        write_json(arguments.json, figures)
        print(f"Wrote {arguments.json}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
