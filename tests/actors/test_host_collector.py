"""The host collector reads real metrics from this machine, on the system clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from actors import HostCollector, HostCollectorStats, HostCollectorStatsQuery, read_host_samples
from messages import SampleBatch
from supervision import ActorSystem, Cancellable, ChildSpec, FakeClock
from tests.actors.harness import EPOCH, Log, Recorder


def test_host_samples_carry_prometheus_names_a_host_label_and_sane_values() -> None:
    samples = read_host_samples(EPOCH, host="box")
    by_name = {sample.name: sample for sample in samples}
    for name in (
        "host_cpu_percent",
        "host_memory_used_percent",
        "host_memory_available_bytes",
        "host_swap_used_percent",
        "host_load1",
        "host_load5",
        "host_load15",
        "host_disk_used_percent",
        "host_disk_free_bytes",
    ):
        assert name in by_name, name
    for sample in samples:
        assert sample.labels["host"] == "box"
        assert sample.timestamp == EPOCH
        if sample.name.endswith("_percent"):
            assert 0.0 <= sample.value <= 100.0, sample
        else:
            assert sample.value >= 0.0, sample
    disks = [sample for sample in samples if sample.name == "host_disk_used_percent"]
    assert all(sample.labels["mount"] for sample in disks)


def test_only_the_mounts_asked_for_are_reported_and_unreadable_ones_are_skipped() -> None:
    samples = read_host_samples(EPOCH, host="box", mounts=["/", "/no/such/mount"])
    mounts = {sample.labels["mount"] for sample in samples if "mount" in sample.labels}
    assert mounts == {"/"}


async def test_the_collector_tells_the_router_a_batch_every_interval() -> None:
    log = Log()
    clock = FakeClock(epoch=EPOCH)
    specs = [
        ChildSpec("router", lambda: Recorder(log)),
        ChildSpec("collector", lambda: HostCollector("/router", interval=10.0, host="box")),
    ]
    async with ActorSystem(specs, clock=clock) as system:
        assert system.lookup("/collector").is_alive()
        clock.advance(10.0)
        await log.until(lambda: len(log.of(SampleBatch)) == 1)
        clock.advance(10.0)
        await log.until(lambda: len(log.of(SampleBatch)) == 2)
        first, second = log.of(SampleBatch)
        assert first.samples[0].timestamp == EPOCH + 10.0
        assert second.samples[0].timestamp == EPOCH + 20.0
        assert {s.name for s in first.samples} >= {"host_cpu_percent", "host_load1"}


def test_a_collector_needs_a_positive_interval() -> None:
    with pytest.raises(ValueError, match="interval"):
        HostCollector("/router", interval=0)


async def test_a_collector_whose_router_is_gone_drops_the_batch_counts_it_and_carries_on() -> None:
    log = Log()
    clock = FakeClock(epoch=EPOCH)
    specs = [
        ChildSpec("router", lambda: Recorder(log)),
        ChildSpec("collector", lambda: HostCollector("/router", interval=10.0, host="box")),
    ]
    async with ActorSystem(specs, clock=clock) as system:
        collector = system.lookup("/collector")
        await system.terminate_child("router")
        clock.advance(10.0)
        # Asked after the tick: answered once that collection is over.
        stats = await collector.ask(HostCollectorStatsQuery(), timeout=30.0)
        assert stats == HostCollectorStats(collections=1, dropped=1)
        assert collector.is_alive()
        assert collector.restarts() == 0


async def test_a_collector_waits_for_room_in_a_bounded_router_instead_of_dropping() -> None:
    log = Log()
    clock = TimerSignals(epoch=EPOCH)
    gate, holding = asyncio.Event(), asyncio.Event()
    specs = [
        ChildSpec("router", lambda: HeldRecorder(log, gate, holding), mailbox_size=1),
        ChildSpec("collector", lambda: HostCollector("/router", interval=10.0, host="box")),
    ]
    async with ActorSystem(specs, clock=clock) as system:
        router, collector = system.lookup("/router"), system.lookup("/collector")
        router.tell("hold")
        await asyncio.wait_for(holding.wait(), timeout=30.0)
        router.tell("filler")
        clock.advance(10.0)  # the tick; its periodic timer re-arms at once
        # The collector reads the host in a thread, then waits for room with a timeout
        # (a timer): release the router only once it waits, so a plain tell would drop.
        await asyncio.wait_for(clock.until_timers(2), timeout=30.0)
        asking = asyncio.create_task(collector.ask(HostCollectorStatsQuery(), timeout=None))
        gate.set()
        stats = await asyncio.wait_for(asking, timeout=30.0)
        assert stats == HostCollectorStats(collections=1, dropped=0)
        assert system.dead_letters.count == 0
        await asyncio.wait_for(log.until(lambda: len(log.of(SampleBatch)) == 1), timeout=30.0)


class TimerSignals(FakeClock):
    """A ``FakeClock`` that tells a test when timers are set."""

    def __init__(self, epoch: float) -> None:
        super().__init__(epoch=epoch)
        self._changed = asyncio.Event()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        handle = super().call_later(delay, callback)
        self._changed.set()
        return handle

    async def until_timers(self, count: int) -> None:
        """Wait until ``count`` timers are pending."""
        while self.pending() < count:
            self._changed.clear()
            await self._changed.wait()


class HeldRecorder(Recorder):
    """A ``Recorder`` that sets ``holding`` and waits for ``gate`` when told "hold"."""

    def __init__(self, log: Log, gate: asyncio.Event, holding: asyncio.Event) -> None:
        super().__init__(log)
        self.gate = gate
        self.holding = holding

    async def on_receive(self, message: Any) -> Any:
        if message == "hold":
            self.holding.set()
            await self.gate.wait()
            return None
        return await super().on_receive(message)
