"""Scenario 6: the store's directory turns read-only, or fills up, under a running server.

A real ``tocsin serve`` keeps its SQLite store in a directory the test breaks for real
(see ``tests/faults/disk.py``): ``chattr +i`` (the kernel refuses every write, root's
too) or a tmpfs filled to the last byte. While it is broken: commands fail with a typed
``unavailable`` error that says the store refused them, ``/readyz`` answers 503 naming
the store, and the server keeps serving. When the disk is back it is ready again by
itself, and a kill -9 after that proves nothing that was acknowledged was lost.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from messages import ErrorFrame, ReplyFrame
from tests.faults.disk import (
    ImmutableDir,
    SmallDisk,
    immutable_dir,
    require_disk_faults,
    small_disk,
)
from tests.faults.durable import history, last_seq
from tests.faults.load import Viewer, host_of
from tests.faults.probe import readyz, until_ready
from tests.faults.server import BOUND, ServerProcess
from tests.gateway.harness import Client

CONFIG = """
[collectors.host]
enabled = false

[[rules.inline]]
type = "threshold"
id = "hot"
selector = "temp"
op = ">"
threshold = 50
severity = "critical"
"""

FIRST_HOSTS = [f"h{n}" for n in range(6)]
OUTAGE_HOSTS = ["late-1", "late-2"]


def _samples(hosts: list[str], value: float) -> dict[str, Any]:
    now = time.time()
    return {
        "type": "ingest",
        "samples": [
            {"name": "temp", "value": value, "labels": {"host": host}, "timestamp": now}
            for host in hosts
        ],
    }


async def _alerts(client: Client) -> dict[str, dict[str, Any]]:
    """Return host -> alert (as JSON) of every alert the server knows."""
    reply = await client.request({"type": "query", "limit": 1000})
    assert isinstance(reply, ReplyFrame), reply
    return {alert["labels"]["host"]: alert for alert in reply.model_dump(mode="json")["data"]}


async def _until_open(client: Client, hosts: list[str]) -> dict[str, dict[str, Any]]:
    """Read events until every host in ``hosts`` has an open alert; return the alerts."""
    subscription = await client.request({"type": "subscribe", "id": f"open-{hosts[0]}"})
    assert not isinstance(subscription, ErrorFrame), subscription
    seen = {alert.labels["host"] for alert in subscription.alerts}

    def opened() -> bool:
        for frame in client.events(f"open-{hosts[0]}"):
            if frame.event.kind.value == "alert_opened":
                seen.add(host_of(frame.event.payload))
        return set(hosts) <= seen

    await client.read_until(opened)
    await client.request({"type": "unsubscribe", "subscription": f"open-{hosts[0]}"})
    return await _alerts(client)


@pytest.mark.parametrize("kind", ["read-only", "full"])
async def test_a_broken_disk_refuses_commands_turns_unready_and_recovers(
    tmp_path: Path, kind: str
) -> None:
    require_disk_faults(kind, tmp_path)
    data = tmp_path / "data"
    guard: AbstractContextManager[ImmutableDir | SmallDisk]
    guard = immutable_dir(data) if kind == "read-only" else small_disk(data, 4 << 20)
    with guard as disk:
        server = ServerProcess(data, CONFIG)
        await server.start()
        try:
            figures = await _scenario(server, disk)
        finally:
            if isinstance(disk, ImmutableDir):
                disk.thaw()
            await server.stop()
    print(f"\nscenario 6 ({kind}): {figures}")


async def _scenario(server: ServerProcess, disk: ImmutableDir | SmallDisk) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    viewer = Viewer(server)
    watching = asyncio.create_task(viewer.run())
    try:
        async with server.client() as client:
            reply = await client.request(_samples(FIRST_HOSTS, 90.0))
            assert isinstance(reply, ReplyFrame), reply
            alerts = await _until_open(client, FIRST_HOSTS)
            acked = set()
            for host in FIRST_HOSTS[:2]:
                reply = await client.request({"type": "ack", "alert_id": alerts[host]["alert_id"]})
                assert isinstance(reply, ReplyFrame), reply
                acked.add(host)

            # Break the disk: the server turns unready and says why.
            if isinstance(disk, ImmutableDir):
                disk.freeze()
            else:
                figures["ballast_bytes"] = disk.fill()
            started = time.monotonic()
            took, body = await until_ready(server.http, False)
            figures["unready_after_s"] = round(took, 3)
            assert body["checks"]["store"] == "the store is not writable", body

            # The first command to meet the broken disk is held, and says so.
            before = time.monotonic()
            first = await client.request({"type": "ack", "alert_id": alerts["h2"]["alert_id"]})
            figures["first_refusal_s"] = round(time.monotonic() - before, 3)
            assert isinstance(first, ErrorFrame), first
            assert first.code == "unavailable", first
            assert first.message.startswith(("not confirmed: ", "not done: ")), first
            if first.message.startswith("not confirmed: "):
                acked.add("h2")  # held in memory: stored once the disk is back
            # The next ones are refused at once, and nothing of them is applied.
            before = time.monotonic()
            refused = await client.request({"type": "ack", "alert_id": alerts["h3"]["alert_id"]})
            figures["refusal_s"] = round(time.monotonic() - before, 3)
            assert isinstance(refused, ErrorFrame), refused
            assert refused.code == "unavailable", refused
            assert refused.message.startswith("not done: the store refuses writes"), refused
            figures["error"] = refused.message[:120]

            # Samples keep coming: the alerts that fire now are held, not lost.
            reply = await client.request(_samples(OUTAGE_HOSTS, 95.0))
            assert isinstance(reply, ReplyFrame), reply
            status, body = await readyz(server.http)
            assert status == 503, body

            # Repair the disk: ready again by itself.
            if isinstance(disk, ImmutableDir):
                disk.thaw()
            else:
                disk.free()
            took, body = await until_ready(server.http, True)
            figures["ready_again_after_s"] = round(took, 3)
            figures["outage_s"] = round(time.monotonic() - started, 3)

            alerts = await _until_open(client, OUTAGE_HOSTS)
            assert alerts["h3"]["state"] == "active", alerts["h3"]  # "not done" was true
            for host in sorted(acked):
                assert alerts[host]["state"] == "acknowledged", alerts[host]
            reply = await client.request({"type": "ack", "alert_id": alerts["h3"]["alert_id"]})
            assert isinstance(reply, ReplyFrame), reply
            acked.add("h3")
            ids = {host: alerts[host]["alert_id"] for host in alerts}
            last = await last_seq(server)
            async with asyncio.timeout(BOUND):
                await viewer.caught_up(last)
    finally:
        watching.cancel()
        await asyncio.wait([watching])

    # A kill -9 now: whatever a client was told is durable.
    await server.restart_after_kill9()
    events = await history(server)
    durable = {event.seq: (event.event.kind.value, event.event.alert_id) for event in events}
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
    lost = {seq: e for seq, e in viewer.events.items() if durable.get(seq) != e}
    assert not lost, f"events pushed to a client and then lost: {lost}"
    async with server.client() as client:
        alerts = await _alerts(client)
    for host in acked:
        assert (alerts[host]["alert_id"], alerts[host]["state"]) == (ids[host], "acknowledged")
    assert set(OUTAGE_HOSTS) <= set(alerts), sorted(alerts)
    figures["events"] = len(events)
    figures["acks"] = len(acked)
    return figures
