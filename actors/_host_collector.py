"""HostCollector: the host's own CPU, memory, disk and load, as metric samples.

A fresh install has real metrics to alert on.  Metric names follow Prometheus
conventions (unit suffixes, ``_percent`` for 0-100 ratios); every sample carries a
``host`` label:

| metric | labels | what |
|---|---|---|
| ``host_cpu_percent`` | | CPU busy since the previous collection, 0-100 |
| ``host_memory_used_percent`` | | memory in use (total - available), 0-100 |
| ``host_memory_available_bytes`` | | memory available without swapping |
| ``host_swap_used_percent`` | | swap in use, 0-100 |
| ``host_disk_used_percent`` | ``mount`` | disk space in use per mounted filesystem |
| ``host_disk_free_bytes`` | ``mount`` | disk space free for unprivileged users |
| ``host_load1``, ``host_load5``, ``host_load15`` | | load averages |
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from actors._addressing import resolve
from messages import MetricSample, SampleBatch
from supervision import Actor, ActorDead, ActorRef, MailboxFull

__all__ = ["HostCollector", "HostCollectorStats", "HostCollectorStatsQuery", "read_host_samples"]


def read_host_samples(
    timestamp: float, *, host: str, mounts: Sequence[str] | None = None
) -> list[MetricSample]:
    """Read the host's metrics now and return them as samples stamped ``timestamp``.

    Blocking (it reads /proc and stats filesystems): call it in a worker thread.
    ``mounts`` limits the disks to those mount points (default: every physical
    filesystem psutil reports, or ``/`` if it reports none); a mount that cannot be
    read is skipped.
    """
    base = {"host": host}
    readings: list[tuple[str, float, dict[str, str]]] = []
    readings.append(("host_cpu_percent", psutil.cpu_percent(interval=None), base))
    memory = psutil.virtual_memory()
    readings.append(("host_memory_used_percent", float(memory.percent), base))
    readings.append(("host_memory_available_bytes", float(memory.available), base))
    readings.append(("host_swap_used_percent", float(psutil.swap_memory().percent), base))
    if mounts is not None:
        wanted = list(mounts)
    else:
        # Some containers list no physical filesystem: the root one is still there.
        partitions = psutil.disk_partitions(all=False)
        wanted = sorted({partition.mountpoint for partition in partitions}) or ["/"]
    for mount in wanted:
        try:
            usage = psutil.disk_usage(mount)
        except OSError:
            continue
        labels = {**base, "mount": mount}
        readings.append(("host_disk_used_percent", float(usage.percent), labels))
        readings.append(("host_disk_free_bytes", float(usage.free), labels))
    for minutes, load in zip((1, 5, 15), os.getloadavg(), strict=True):
        readings.append((f"host_load{minutes}", load, base))
    return [
        MetricSample(name=name, value=value, labels=labels, timestamp=timestamp)
        for name, value, labels in readings
    ]


@dataclass(frozen=True, slots=True)
class HostCollectorStatsQuery:
    """Ask a ``HostCollector`` for its ``HostCollectorStats``."""


@dataclass(frozen=True, slots=True)
class HostCollectorStats:
    """Collections made so far, and the batches of them dropped (no room, no router)."""

    collections: int
    dropped: int


@dataclass(frozen=True, slots=True)
class _Collect:
    """Time to read the host again."""


class HostCollector(Actor):
    """Tell ``router`` a ``SampleBatch`` of the host's metrics every ``interval`` seconds.

    The first collection happens ``first_after`` seconds after start (default: one
    interval, since CPU usage needs an interval to mean anything).  Timers run on the
    system clock; the readings run in a worker thread so a slow filesystem cannot
    stall the event loop.  ``host`` defaults to the machine's host name; ``mounts``
    limits the disks reported.  Timestamps are the clock's ``time()``.  A bounded
    router gets each batch with ``send``, waiting up to one interval for room; a batch
    that finds none is dropped, counted in ``dropped`` and logged.
    """

    def __init__(
        self,
        router: ActorRef | str,
        *,
        interval: float = 10.0,
        first_after: float | None = None,
        host: str | None = None,
        mounts: Sequence[str] | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0, got {interval}")
        self._router_name = router
        self.interval = interval
        self.first_after = interval if first_after is None else first_after
        self.host = host or socket.gethostname()
        self.mounts = None if mounts is None else tuple(mounts)
        self.collections = 0
        self.dropped = 0

    async def on_start(self) -> None:
        self._router = resolve(self, self._router_name)
        # psutil measures CPU usage between two calls: this one starts the first span.
        await asyncio.to_thread(psutil.cpu_percent, None)
        self.timers.send_every(
            self.interval, _Collect(), key="collect", initial_delay=self.first_after
        )

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Collect):
            samples = await asyncio.to_thread(
                read_host_samples, self.clock.time(), host=self.host, mounts=self.mounts
            )
            self.collections += 1
            try:
                # Wait for room in a bounded router, but no longer than an interval: a
                # reading older than that is stale, the next one replaces it.
                await self._router.send(SampleBatch(samples=tuple(samples)), self.interval)
            except (MailboxFull, ActorDead) as error:
                self.dropped += 1
                self.log.warning("host samples dropped", error=str(error))
            return None
        if isinstance(message, HostCollectorStatsQuery):
            return HostCollectorStats(self.collections, self.dropped)
        return await super().on_receive(message)
