"""bench/gateway.py runs end to end at a tiny size and writes every figure (no timing asserted)."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

from websockets.asyncio.server import ServerConnection, serve

from bench._lean_client import LeanSubscriber, SubscriberGroup
from bench._report import write_json
from bench.gateway import FULL, QUICK, TINY, fanout_key, measure, render

MEASURED_AT_ANY_SIZE = (
    "sample_to_client_p50_ms",
    "sample_to_client_p99_ms",
    "ws_ingest_samples_per_s",
)
"""The issue's required figures but fanout_10k_last_ms, which needs 10,000 clients."""


def test_the_full_and_quick_runs_fan_out_to_10k_clients_and_so_write_every_required_figure() -> (
    None
):
    for sizes in (FULL, QUICK):
        assert 10_000 in sizes.fanout
        assert fanout_key(10_000) == "fanout_10k"
        assert sizes.workers >= 2


async def test_a_tiny_run_measures_every_figure_and_writes_them_as_json(tmp_path: Path) -> None:
    figures = await measure(TINY)

    assert figures["sample_to_client_probes"] == TINY.probes
    assert 0 < figures["sample_to_client_p50_ms"] <= figures["sample_to_client_p99_ms"]
    assert figures["background_samples_per_s"] > 0
    assert figures["ws_ingest_samples_per_s"] > 0
    assert figures["ws_ingest_10_connections_samples_per_s"] > 0
    for size in TINY.fanout:
        key = fanout_key(size)
        assert figures[f"{key}_rounds"] == TINY.rounds, key
        assert 0 < figures[f"{key}_first_ms"] <= figures[f"{key}_last_ms"], key
        assert figures[f"{key}_server_cpu_ms"] > 0, key
        assert figures[f"{key}_clients_cpu_ms"] > 0, key
    assert "LeanSubscriber" in figures["client_method"]
    assert {target["text"] for target in figures["targets"]} >= {"10,000 clients within 250 ms"}
    # A tiny run has no 10k fan-out: the target reads it as missed, never as met.
    assert not next(t for t in figures["targets"] if "10,000" in t["text"])["met"]
    table = render(figures)
    assert "sample_to_client_p50_ms" in table
    assert "load average" in table

    path = tmp_path / "gateway.json"
    write_json(path, figures)
    written = json.loads(path.read_text())
    for name in MEASURED_AT_ANY_SIZE:
        assert math.isfinite(written[name]), name
    assert written[f"{fanout_key(TINY.fanout[-1])}_last_ms"] > 0


async def test_a_lean_subscriber_reads_frames_of_every_length_answers_pings_and_closes() -> None:
    pad = {"pad": "x" * 70_000}  # a 64-bit length; the snapshot's 16-bit; the welcome's 7-bit
    done = asyncio.Event()
    closed: list[int | None] = []

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        assert ws.request.headers["Authorization"] == "Bearer secret"
        await ws.send(json.dumps({"type": "welcome"}))
        subscribe = json.loads(await ws.recv())
        assert subscribe == {"type": "subscribe", "id": "s", "matchers": ['alertname="x"']}
        await ws.send(json.dumps({"type": "snapshot", "alerts": ["a" * 200]}))
        await done.wait()
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 30)
        await ws.send(json.dumps({"type": "event", "event": {"kind": "alert_opened", **pad}}))
        await ws.wait_closed()
        closed.append(ws.close_code)

    async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}/ws"
        group = SubscriberGroup()
        subscriber = LeanSubscriber(url, "secret", ['alertname="x"'], group)
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: subscriber, "127.0.0.1", port)
        await asyncio.wait_for(subscriber.ready, 30)
        group.subscribers.append(subscriber)
        group.arm()
        done.set()
        await asyncio.wait_for(group.done.wait(), 30)
        assert len(group.arrivals) == 1
        subscriber.close()
        await asyncio.wait_for(subscriber.closed, 30)
    assert closed == [1000]
