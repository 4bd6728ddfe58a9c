"""Benchmark the gateway end to end over loopback WebSockets against a real AlertSystem.

Run from the repository root in the project's environment::

    python bench/gateway.py [--quick] [--json PATH]

- sample → client: one ingest connection sends a sample that opens a new alert; a
  subscribed client times the event's arrival (p50/p99), while another connection
  ingests background samples at ~10k samples/s (matched by a rule, never firing).
- fan-out: 1,000 and 10,000 subscribed clients (1,000 only with ``--quick``), in a
  worker process so that each process stays under the open-files limit; one sample
  opens one alert; the time until
  the last client has the event (a system-wide monotonic clock, comparable across
  processes on one machine).
- ingest: samples/s over 1 and 10 connections, each keeping a window of ingest frames
  of 1,000 samples in flight.

Every loop is bounded in count and time. Targets (issue 6): p50 ≤ 2 ms, p99 ≤ 10 ms at
10k samples/s background; 10,000 clients within 250 ms; ≥ 100k samples/s ingested.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._report import Deadline, parse_arguments
from gateway.config import TocsinConfig
from gateway.system import AlertSystem
from messages import MetricSample

TOKEN = "bench-token-0123456789"
OPEN_TIMEOUT = 60.0


def bench_config() -> TocsinConfig:
    rules = [
        {"type": "threshold", "id": "probe", "selector": "bench_probe", "op": ">", "threshold": 0},
        {
            "type": "threshold",
            "id": "fanout",
            "selector": "bench_fanout",
            "op": ">",
            "threshold": 0,
        },
        {"type": "threshold", "id": "load", "selector": "bench_load", "op": ">", "threshold": 1e12},
    ]
    return TocsinConfig.model_validate(
        {
            "server": {"port": 0},
            "auth": {"tokens": [{"user": "bench", "roles": ["admin", "ingest"], "token": TOKEN}]},
            "store": {"path": ":memory:"},
            "collectors": {"host": {"enabled": False}},
            "rules": {"inline": rules},
            "limits": {"max_connections": 20_000, "rate": 1e6, "burst": 1_000_000},
        }
    )


async def client(url: str) -> ClientConnection:
    ws = await connect(
        url,
        additional_headers={"Authorization": f"Bearer {TOKEN}"},
        proxy=None,
        open_timeout=OPEN_TIMEOUT,
        max_size=None,
    )
    await ws.recv()  # the welcome
    return ws


async def subscribe(ws: ClientConnection, rule_id: str) -> None:
    await ws.send(
        json.dumps({"type": "subscribe", "id": "s", "matchers": [f'alertname="{rule_id}"']})
    )
    while json.loads(await ws.recv())["type"] != "snapshot":
        pass


def samples(name: str, count: int, offset: int = 0, value: float = 1.0) -> list[dict[str, Any]]:
    now = time.time()
    return [
        {"name": name, "value": value, "labels": {"s": str((offset + i) % 100)}, "timestamp": now}
        for i in range(count)
    ]


async def background(url: str, rate: float, stop: asyncio.Event) -> int:
    """Ingest ``rate`` samples/s in frames of 100 until ``stop``; return how many."""
    ws = await client(url)
    sent = 0
    try:
        start = time.perf_counter()
        while not stop.is_set():
            due = int((time.perf_counter() - start) * rate)
            if due - sent >= 100:
                await ws.send(
                    json.dumps(
                        {"type": "ingest", "id": "b", "samples": samples("bench_load", 100, sent)}
                    )
                )
                sent += 100
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.005)
    finally:
        await ws.close()
    return sent


async def sample_to_client(url: str, probes: int, deadline: Deadline) -> list[float]:
    """Return the latencies (ms) of ``probes`` samples each opening an alert."""
    feeder, watcher = await client(url), await client(url)
    try:
        await subscribe(watcher, "probe")
        latencies: list[float] = []
        for n in range(probes):
            if deadline.expired():
                break
            frame = {
                "name": "bench_probe",
                "value": 1.0,
                "labels": {"probe": str(n)},
                "timestamp": time.time(),
            }
            start = time.perf_counter()
            await feeder.send(json.dumps({"type": "ingest", "id": f"p{n}", "samples": [frame]}))
            while True:
                message = json.loads(await asyncio.wait_for(watcher.recv(), 10))
                if message["type"] == "event" and message["event"]["kind"] == "alert_opened":
                    break
            latencies.append((time.perf_counter() - start) * 1000)
        return latencies
    finally:
        await feeder.close()
        await watcher.close()


async def ingest_rate(url: str, connections: int, seconds: float) -> float:
    """Return samples/s ingested over ``connections``, 8 frames of 1,000 in flight each."""
    sockets = [await client(url) for _ in range(connections)]
    frame = json.dumps({"type": "ingest", "id": "i", "samples": samples("bench_load", 1000)})
    done = 0
    deadline = Deadline(seconds)

    async def pump(ws: ClientConnection) -> None:
        nonlocal done
        in_flight = 0
        while not deadline.expired() or in_flight:
            while in_flight < 8 and not deadline.expired():
                await ws.send(frame)
                in_flight += 1
            reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if reply["type"] in ("reply", "error"):
                in_flight -= 1
                if reply["type"] == "reply":
                    done += 1000

    start = time.perf_counter()
    try:
        async with asyncio.TaskGroup() as group:
            for ws in sockets:
                group.create_task(pump(ws))
        return done / (time.perf_counter() - start)
    finally:
        for ws in sockets:
            await ws.close()


async def fanout_worker(url: str, count: int) -> None:
    """In a worker process: connect ``count`` subscribers, say ready, time the event."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sockets: list[ClientConnection] = []
    gate = asyncio.Semaphore(200)

    async def one() -> None:
        async with gate:
            ws = await client(url)
            await subscribe(ws, "fanout")
            sockets.append(ws)

    async with asyncio.TaskGroup() as group:
        for _ in range(count):
            group.create_task(one())
    print("ready", flush=True)
    arrivals: list[float] = []

    async def wait_event(ws: ClientConnection) -> None:
        while json.loads(await ws.recv())["type"] != "event":
            pass
        arrivals.append(time.monotonic())

    try:
        async with asyncio.timeout(60), asyncio.TaskGroup() as group:
            for ws in sockets:
                group.create_task(wait_event(ws))
    except TimeoutError:
        pass
    print(json.dumps({"received": len(arrivals), "last": max(arrivals, default=0.0)}), flush=True)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


async def fanout(system: AlertSystem, count: int, n: int) -> float | None:
    """Return ms until the last of ``count`` clients has the event of one new alert.

    None if it could not be measured (the reason goes to stderr).
    """
    assert system.url is not None
    worker = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--fanout-worker", system.url, str(count),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert worker.stdout is not None
    try:
        # Connecting is the slow part: thousands of handshakes and snapshots.
        async with asyncio.timeout(300):
            ready = await worker.stdout.readline()
        if ready.strip() != b"ready":
            raise RuntimeError(f"fan-out worker failed: {ready!r}")
        start = time.monotonic()
        sample = MetricSample(
            name="bench_fanout", value=1.0, labels={"n": str(n)}, timestamp=time.time()
        )
        await system.ingest([sample])
        async with asyncio.timeout(120):
            result = json.loads(await worker.stdout.readline())
        if result["received"] < count:
            print(f"  fan-out {count}: only {result['received']} received", file=sys.stderr)
            return None
        return float(result["last"] - start) * 1000
    except (TimeoutError, RuntimeError) as exc:
        print(f"  fan-out {count}: not measured ({exc!r})", file=sys.stderr)
        return None
    finally:
        if worker.returncode is None:
            try:
                async with asyncio.timeout(60):
                    await worker.wait()
            except TimeoutError:
                worker.kill()
                await worker.wait()


_PHASE = [0.0]


def phase(name: str) -> None:
    """Tell stderr how long the phase that just ended took."""
    now = time.perf_counter()
    print(f"  {name}: {now - _PHASE[0]:.1f} s", file=sys.stderr, flush=True)
    _PHASE[0] = now


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


async def run(quick: bool) -> dict[str, float | None]:
    figures: dict[str, float | None] = {}
    _PHASE[0] = time.perf_counter()
    async with AlertSystem(bench_config()) as system:
        url = system.url
        assert url is not None
        stop = asyncio.Event()
        load = asyncio.create_task(background(url, 10_000, stop))
        load_started = time.perf_counter()
        try:
            latencies = await sample_to_client(
                url, 200 if quick else 2000, Deadline(5 if quick else 60)
            )
        finally:
            stop.set()
            load_seconds = time.perf_counter() - load_started
            background_sent = await load
        figures["sample_to_client_p50_ms"] = percentile(latencies, 0.5)
        figures["sample_to_client_p99_ms"] = percentile(latencies, 0.99)
        figures["sample_to_client_probes"] = len(latencies)
        # What the background connection achieved: the server's backpressure may hold it
        # under the 10k samples/s it aims at.
        figures["background_samples_per_s"] = background_sent / load_seconds
        phase("sample to client")
        # Connecting 10,000 clients takes longer than --quick's budget on 2 cores: quick
        # measures 1,000 and reports the 10,000 figure as null (not measured).
        sizes = [(1_000, "fanout_1k_last_ms")]
        if not quick:
            sizes.append((10_000, "fanout_10k_last_ms"))
        else:
            figures["fanout_10k_last_ms"] = None
        for count, key in sizes:
            figures[key] = await fanout(system, count, count)
            phase(f"fan-out {count}")
        seconds = 2.0 if quick else 10.0
        figures["ws_ingest_samples_per_s"] = await ingest_rate(url, 1, seconds)
        figures["ws_ingest_10_connections_samples_per_s"] = await ingest_rate(url, 10, seconds)
        phase("ingest")
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--fanout-worker"]:
        asyncio.run(fanout_worker(argv[1], int(argv[2])))
        return 0
    args = parse_arguments(__doc__ or "", argv)
    logging.disable(logging.CRITICAL)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    started = time.perf_counter()
    figures = asyncio.run(run(args.quick))
    print(f"{'figure':44} {'value':>14}")
    for key, value in figures.items():
        shown = "not measured" if value is None else f"{value:.2f}"
        print(f"{key:44} {shown:>14}")
    print(f"(took {time.perf_counter() - started:.1f} s)")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
