"""A small live supervision tree, run by ``tocsin serve`` until the gateway exists."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import psutil

from supervision import Actor, ActorSystem, Backoff, ChildSpec, Strategy, Supervisor


class _Tick:
    pass


class HostSampler(Actor):
    """Sample the host's CPU and memory every ``interval`` seconds and log them."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.samples = 0

    async def on_start(self) -> None:
        self.timers.send_every(self.interval, _Tick(), key="tick")
        self.log.info("sampler started", interval=self.interval)

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Tick):
            self.samples += 1
            self.log.info(
                "host sample",
                cpu_percent=psutil.cpu_percent(interval=None),
                memory_percent=psutil.virtual_memory().percent,
                load1=os.getloadavg()[0],
            )
            if self.samples % 5 == 0:
                raise RuntimeError("demo crash: the supervisor restarts me")
        return None


async def run_demo(interval: float, duration: float | None) -> None:
    """Run the demo tree for ``duration`` seconds (forever if None)."""
    sampler = ChildSpec("host-sampler", lambda: HostSampler(interval))
    tree = ChildSpec(
        "collectors",
        lambda: Supervisor(
            [sampler],
            strategy=Strategy.ONE_FOR_ONE,
            intensity=10,
            period=60,
            backoff=Backoff(min=0.5, max=5),
        ),
    )
    async with ActorSystem([tree], name="tocsin-demo") as system:
        waiter = asyncio.ensure_future(system.wait_terminated())
        try:
            await asyncio.wait_for(asyncio.shield(waiter), duration)
        except TimeoutError:
            pass
        finally:
            waiter.cancel()
