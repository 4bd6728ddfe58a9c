"""Scenario 4: slow and hostile clients. 1,000 viewers, 50 of which never read.

A real ``tocsin serve`` fans a steady stream of alert events out to 1,000 WebSocket
viewers living in a helper process (``tests.faults.viewer_swarm``): 950 readers
subscribed to small ``info`` tick alerts, and 50 stalled viewers subscribed to
everything (several times) that stop reading after subscribing, on sockets with a 4 KiB
receive buffer. Besides the ticks, the feed opens ``bulk`` alerts with 128 KB of
annotations that only the stalled viewers select: the kernel holds up to twice the
server's ``send_buffer_bytes`` (256 KiB) per connection before the server's own write
buffer grows, and small frames alone would take hundreds of events to get there.

What must hold: every reader receives every tick exactly once, in seq order (latency is
measured and printed, not asserted: targets live in bench/; per tick, the first
reader's latency is the path from the sample to the server's first write, commit
included, and the last one's adds the fan-out to 950 sockets; the CPU the server and
the swarm spent during the feed, and the load average, say how fair the run was); the
50 stalled viewers are shed with 1013 (``tocsin_slow_consumers_shed_total`` says 50;
every close frame a stalled viewer can still read says 1013); the server's RSS stays
bounded (sampled with psutil all along and printed); the server keeps serving the 950.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from messages import ReplyFrame
from tests.faults.server import ADMIN_TOKEN, BOUND, ServerProcess, running

READERS = 950
STALLED = 50
TICKS = 50
"""Tick alerts the feed opens (each reaches every reader and every stalled viewer)."""
STEPS_PER_SECOND = 10
"""Ingest frames per second; every other one carries a tick, every one a bulk alert."""
MAX_PENDING_BYTES = 256 * 1024
PAD_ANNOTATIONS = 32
"""Annotations of 4,000 characters on each bulk alert (an annotation is cut at 4,096)."""
RSS_SLACK = 150 * 1024 * 1024
"""How much the server's RSS may grow over the run: generous, against the unbounded
growth a stalled viewer would cause (it is sent ~1 MB/s and would keep all of it)."""

VIEWER_TOKEN = "viewer-token-for-slow-clients"

CONFIG = f"""
[[auth.tokens]]
user = "feed"
roles = ["admin", "ingest"]
token = "{ADMIN_TOKEN}"

[[auth.tokens]]
user = "wallboard"
roles = ["viewer"]
token = "{VIEWER_TOKEN}"

[receivers]

[collectors.host]
enabled = false

[limits]
max_pending_bytes = {MAX_PENDING_BYTES}
max_connections = {READERS + STALLED + 50}
rate = 1000
burst = 1000

[[rules.inline]]
type = "threshold"
id = "tick"
selector = "tick"
op = ">"
threshold = 0
severity = "info"

[[rules.inline]]
type = "threshold"
id = "bulk"
selector = "bulk"
op = ">"
threshold = 0
severity = "warning"
annotations = {{ {", ".join(f'part{n} = "{"r" * 4000}"' for n in range(PAD_ANNOTATIONS))} }}
"""


def _raise_open_files_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


class Swarm:
    """The viewer swarm subprocess and its JSON-line conversation."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, server: ServerProcess) -> tuple[Swarm, dict[str, Any]]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.faults.viewer_swarm", server.url, VIEWER_TOKEN,
            "--readers", str(READERS), "--stalled", str(STALLED),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        swarm = cls(process)
        ready = await swarm.read(BOUND * 3)
        assert ready.get("event") == "ready", ready
        return swarm, ready

    async def read(self, timeout: float = BOUND) -> dict[str, Any]:
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            line = await self.process.stdout.readline()
        if not line:
            raise AssertionError(f"the viewer swarm ended (status {await self.process.wait()})")
        result: dict[str, Any] = json.loads(line)
        return result

    async def tell(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        async with asyncio.timeout(BOUND):
            await self.process.wait()


async def _metric(http: httpx.AsyncClient, name: str) -> float:
    text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class RssSampler:
    """Sample a process's RSS until stopped (a measurement, not a wait)."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - start, self._process.memory_info().rss))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval)

    def stop(self) -> None:
        self._stop.set()

    def peak(self) -> int:
        return max(rss for _, rss in self.samples)


def _resolve_later(future: asyncio.Future[None], delay: float) -> None:
    def resolve() -> None:
        if not future.done():
            future.set_result(None)

    asyncio.get_running_loop().call_later(delay, resolve)


def _sample(name: str, value: float, **labels: str) -> dict[str, Any]:
    return {"name": name, "value": value, "labels": labels, "timestamp": time.time()}


async def _feed(server: ServerProcess) -> int:
    """Send the steady stream: a bulk alert every step, a tick every other step."""
    ticks = 0
    period = 1.0 / STEPS_PER_SECOND
    async with server.client(ADMIN_TOKEN) as feed:
        next_step = time.monotonic()
        for step in range(TICKS * 2):
            now = time.monotonic()
            samples = [_sample("bulk", 1.0, n=str(step))]
            if step:
                samples.append(_sample("bulk", 0.0, n=str(step - 1)))  # resolves the last one
            if step % 2 == 0:
                samples.append(_sample("tick", 1.0, sent=f"{now:.6f}"))
                ticks += 1
            reply = await feed.request({"type": "ingest", "samples": samples})
            assert isinstance(reply, ReplyFrame), reply
            # Pace the stream at a steady rate (a rate, not a wait for something).
            next_step += period
            delay = next_step - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
    return ticks


@pytest.mark.timeout(300)  # ~30 s on an idle 2-core machine; more when 8 share it
async def test_fifty_viewers_that_never_read_are_shed_and_the_other_950_keep_receiving(
    tmp_path: Path,
) -> None:
    _raise_open_files_limit(4 * (READERS + STALLED) + 256)
    async with running(tmp_path / "data", CONFIG) as server:
        swarm, ready = await Swarm.start(server)
        sampler = RssSampler(server.pid())
        sampling = asyncio.create_task(sampler.run())
        try:
            async with httpx.AsyncClient(base_url=server.http, trust_env=False) as http:
                assert await _metric(http, "tocsin_connections") == READERS + STALLED
                baseline = psutil.Process(server.pid()).memory_info().rss
                cpu_before = _cpu_seconds(server.pid())
                started = time.monotonic()
                feeding = asyncio.create_task(_feed(server))
                shed_at: float | None = None
                # Watch the shed counter while the feed runs, and at most BOUND after it.
                deadline = asyncio.get_running_loop().create_future()
                feeding.add_done_callback(lambda _: _resolve_later(deadline, BOUND))
                while shed_at is None and not deadline.done():
                    shed = await _metric(http, "tocsin_slow_consumers_shed_total")
                    if shed >= STALLED:
                        shed_at = time.monotonic() - started
                        await swarm.tell("drain")  # read the close frames before the abort
                    else:
                        await asyncio.wait([deadline], timeout=0.2)
                ticks = await feeding
                feed_seconds = time.monotonic() - started
                server_cpu = _cpu_seconds(server.pid()) - cpu_before
                # The shed viewers' closing handshakes end within close_timeout (aborted).
                async with asyncio.timeout(BOUND):
                    while (connections := await _metric(http, "tocsin_connections")) > READERS:
                        await asyncio.wait([sampling], timeout=0.2)
                await swarm.tell(f"finish {ticks}")
                result = await swarm.read(BOUND * 3)
                shed = await _metric(http, "tocsin_slow_consumers_shed_total")
                final_rss = psutil.Process(server.pid()).memory_info().rss
        finally:
            sampler.stop()
            await sampling
            await swarm.stop()
        assert server.process is not None
        assert server.process.returncode is None

    mib = 1024 * 1024
    codes = result["stalled_close_codes"]
    print(
        f"\nscenario 4: {READERS} readers + {STALLED} stalled viewers (connected in "
        f"{ready['connect_seconds']:.1f}s); {ticks} ticks + {2 * TICKS} bulk alerts "
        f"in {feed_seconds:.1f}s; CPU: server {server_cpu:.2f}s, viewer swarm "
        f"{result['swarm_cpu_seconds']:.2f}s; load average {_load()}"
    )
    print(
        f"  stalled: {int(shed)} shed (all {STALLED} by {_s(shed_at)}); close codes seen: "
        f"{sorted(set(codes), key=str)} ({codes.count(1013)} of {STALLED} read 1013)"
    )
    print(
        f"  readers: {result['deliveries']} tick deliveries; sample->client latency "
        f"p50 {_ms(result['latency_p50'])} p99 {_ms(result['latency_p99'])} "
        f"max {_ms(result['latency_max'])}; per tick, first reader p50 "
        f"{_ms(result['first_reader_p50'])} max {_ms(result['first_reader_max'])}, last "
        f"reader p50 {_ms(result['last_reader_p50'])} max {_ms(result['last_reader_max'])}"
    )
    print(
        f"  server RSS: {baseline / mib:.0f} MiB connected, peak {sampler.peak() / mib:.0f} MiB, "
        f"end {final_rss / mib:.0f} MiB ({len(sampler.samples)} samples)"
    )
    assert result["all_ticks_received"], result
    assert result["ticks"] == [ticks], result  # every reader, every tick, exactly once
    assert result["disorder"] == 0, result
    assert result["reader_problems"] == [], result
    assert result["reader_closes"] == [], result
    assert shed == STALLED, {k: v for k, v in result.items() if k.startswith("stalled")}
    assert shed_at is not None
    assert set(codes) <= {1013, None}, codes  # None: aborted before it read the close frame
    assert connections == READERS
    assert sampler.peak() - baseline < RSS_SLACK


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _load() -> str:
    return ", ".join(f"{load:.1f}" for load in os.getloadavg())


def _s(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.1f}s"


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"
