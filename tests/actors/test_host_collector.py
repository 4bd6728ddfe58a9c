"""The host collector reads real metrics from this machine, on the system clock."""

from __future__ import annotations

import pytest

from actors import HostCollector, read_host_samples
from messages import SampleBatch
from supervision import ActorSystem, ChildSpec, FakeClock
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
