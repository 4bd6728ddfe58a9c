"""Ingest backpressure in the assembled system: a flood is throttled, nothing is lost.

The router's mailbox is bounded by ``[limits] router_mailbox``; an ingest frame that
finds it full waits (and its connection stops reading) instead of queueing. That the
socket then stops being read, frame by frame, is shown with a held router in
tests/gateway/test_ingest.py; here the real router of an ``AlertSystem`` is made the
bottleneck (each new series is checked against many regex selectors) and flooded by
several real clients at once, while an admin changes the rules.
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import AsyncExitStack
from typing import Any

from actors import RouterStatsQuery
from gateway.system import AlertSystem
from messages import ReplyFrame
from tests.gateway.harness import READ_TIMEOUT, Client
from tests.system.test_end_to_end import client, config

CAPACITY = 2
CLIENTS = 3
FRAMES = 20
BATCH = 200
DECOYS = 40


def decoy(n: int) -> dict[str, Any]:
    """A rule whose regex the router tries on every new series, and which never matches."""
    return {
        "type": "threshold",
        "id": f"decoy-{n}",
        "selector": f'temp{{room=~"decoy-{n}-[0-9]+"}}',
        "op": ">",
        "threshold": 50,
    }


def frame(feeder: int, number: int, now: float) -> str:
    samples = [
        {
            "name": "temp",
            "value": 20.0,
            "labels": {"room": f"r{feeder}-{number}-{i}"},
            "timestamp": now,
        }
        for i in range(BATCH)
    ]
    return json.dumps({"type": "ingest", "id": f"f{number}", "samples": samples})


async def flood(feeder: Client, index: int, system: AlertSystem, depths: list[int]) -> list[Any]:
    """Send every frame without waiting for replies; read the replies meanwhile."""
    now = time.time()
    frames = [frame(index, number, now) for number in range(FRAMES)]

    async def write() -> None:
        for text in frames:
            await feeder.ws.send(text)

    writing = asyncio.create_task(write())
    replies = []
    try:
        for number in range(FRAMES):
            replies.append(await feeder.answer(f"f{number}"))
            depths.append(system.router.mailbox_size())
    finally:
        await writing
    return replies


async def test_a_flood_of_ingest_frames_is_throttled_by_the_routers_bound_and_nothing_is_lost() -> (
    None
):
    rules = {"inline": [decoy(n) for n in range(DECOYS)]}
    limits = {"router_mailbox": CAPACITY, "rate": 100_000, "burst": 100_000}
    async with AlertSystem(config(rules=rules, limits=limits)) as system:
        assert system.router.mailbox_capacity() == CAPACITY
        async with AsyncExitStack() as clients:
            feeders = [
                await clients.enter_async_context(client(system, "ingest")) for _ in range(CLIENTS)
            ]
            admin = await clients.enter_async_context(client(system, "admin"))
            viewer = await clients.enter_async_context(client(system, "viewer"))
            subscribe = {"type": "subscribe", "id": "hot", "matchers": ['alertname="hot"']}
            assert (await viewer.request(subscribe)).type == "snapshot"
            depths: list[int] = []
            flooding = [
                asyncio.create_task(flood(feeder, index, system, depths))
                for index, feeder in enumerate(feeders)
            ]
            # A rule change in the middle of the flood: its routes pass the full mailbox.
            hot = {
                "type": "threshold",
                "id": "hot",
                "selector": 'temp{room="final"}',
                "op": ">",
                "threshold": 50,
            }
            put = await admin.request({"type": "put_rule", "rule": hot})
            assert isinstance(put, ReplyFrame), put
            results = await asyncio.wait_for(asyncio.gather(*flooding), timeout=120.0)

            for replies in results:
                assert all(isinstance(reply, ReplyFrame) for reply in replies), replies
                assert [reply.data for reply in replies] == [{"accepted": BATCH}] * FRAMES
            # The server never held more than the bound (plus a route update) for the router.
            assert max(depths) <= CAPACITY + 1
            waits = system.metrics.registry.get_sample_value("tocsin_ingest_waits_total")
            assert waits is not None
            assert waits > 0

            final = {"name": "temp", "value": 99.0, "labels": {"room": "final"}}
            final["timestamp"] = time.time()
            answer = await feeders[0].request({"type": "ingest", "samples": [final]})
            assert isinstance(answer, ReplyFrame)
            await viewer.until_events(1)
            assert viewer.events()[0].event.kind.value == "alert_opened"

            stats = await system.router.ask(RouterStatsQuery(), timeout=READ_TIMEOUT)
            assert stats.samples == CLIENTS * FRAMES * BATCH + 1
            assert stats.dropped_waiting == 0
            assert system.system.dead_letters.count == 0
