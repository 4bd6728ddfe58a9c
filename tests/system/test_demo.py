"""``tocsin demo`` as a real subprocess: a client sees its alert fire, escalate and resolve."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from websockets.asyncio.client import connect

from messages import SERVER_FRAME_ADAPTER, EventFrame, SnapshotFrame

BOUND = 30.0
"""The longest any step waits: a bound, never a pause."""

PERIOD = 6.0
"""One demo cycle: fires after 0.3 s, escalates 1 s later, resolves 2 s into the cycle."""


async def test_the_demo_fires_escalates_and_resolves_an_alert_that_a_client_watches(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "TOCSIN_DATA_DIR": str(tmp_path), "TOCSIN_TOKEN": "demo-t0ken"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "--log-json", "demo", "--port", "0",
        "--period", str(PERIOD), "--duration", "120",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        async with asyncio.timeout(BOUND):
            line = (await process.stdout.readline()).decode()
        assert line.startswith("tocsin: serving http://127.0.0.1:"), line
        port = int(line.split()[-1].rstrip("/").rsplit(":", 1)[1])
        url = f"ws://127.0.0.1:{port}/ws?token=demo-t0ken"
        kinds: dict[str, list[str]] = {}
        async with connect(url, proxy=None, open_timeout=BOUND) as ws, asyncio.timeout(BOUND):
            await ws.recv()  # the welcome
            await ws.send(json.dumps({"type": "subscribe", "id": "all"}))
            # Until one alert has gone all the way: opened, escalated, resolved.
            while not any(
                {"alert_opened", "alert_escalated", "alert_resolved"} <= set(seen)
                for seen in kinds.values()
            ):
                frame = SERVER_FRAME_ADAPTER.validate_json(await ws.recv())
                if isinstance(frame, SnapshotFrame):
                    continue
                assert isinstance(frame, EventFrame), frame
                event = frame.event
                if event.alert_id is not None:
                    kinds.setdefault(event.alert_id, []).append(event.kind.value)
        lifecycle = next(
            seen
            for seen in kinds.values()
            if {"alert_opened", "alert_escalated", "alert_resolved"} <= set(seen)
        )
        assert lifecycle[0] == "alert_opened"
        assert lifecycle.index("alert_escalated") < lifecycle.index("alert_resolved")
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(BOUND):
            _, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        logged = [
            json.loads(line)["event"] for line in err.decode().splitlines() if line.startswith("{")
        ]
        for narrated in ("demo: alert_opened", "demo: alert_escalated", "demo: alert_resolved"):
            assert narrated in logged
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
