"""A client that stops reading is disconnected with 1013; the others never wait for it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from messages import EventFrame, SnapshotFrame
from tests.alerting.builders import firing
from tests.gateway.harness import TOKENS, Client, Stack, gateway_config, serving

MAX_EVENTS = 1_000
"""A bound on the loop that waits for the slow client to be shed."""

PAD = "x" * 64_000
"""An annotation that makes each event frame about 64 KB: few events fill the buffers."""


def small_receive_buffer_socket(port: int) -> socket.socket:
    """Return a socket connected to the gateway that buffers little of what it receives."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def read_until_closed(client: Client) -> tuple[list[object], ConnectionClosed]:
    """Read every frame until the connection closes; return them and how it closed."""
    received: list[object] = []
    for _ in range(MAX_EVENTS + 10):
        try:
            received.append(await client.read())
        except ConnectionClosed as closed:
            return received, closed
    pytest.fail("the connection was not closed")


@asynccontextmanager
async def never_reading(stack: Stack) -> AsyncIterator[Client]:
    """A viewer subscribed to everything that stops reading after its first frames."""
    token = TOKENS["viewer"][0]
    sock = small_receive_buffer_socket(stack.gateway.port)
    # max_queue=1: the client library stops reading the socket after one frame, so the
    # server's unsent bytes pile up from the next ones: a client that never reads.
    async with connect(
        f"{stack.gateway.url}?token={token}", sock=sock, proxy=None, max_queue=1
    ) as ws:
        slow = Client(ws)
        await slow.read()  # the welcome
        await slow.send({"type": "subscribe", "id": "s"})
        yield slow


async def feed_until_shed(stack: Stack, fast: Client) -> int:
    """Fire ~64 KB alerts, each seen by ``fast``, until a client is shed; return how many."""
    for n in range(MAX_EVENTS):
        stack.manager.tell(firing(host=f"h{n}", annotations={"pad": PAD}))
        await fast.until_events(n + 1)
        if (await stack.registry_stats()).shed:
            return n + 1
    pytest.fail(f"the slow client was not shed after {MAX_EVENTS} events")


async def test_a_client_that_does_not_read_is_shed_with_1013_while_a_fast_one_keeps_receiving() -> (
    None
):
    config = gateway_config(max_pending_bytes=16 * 1024)
    async with serving(config=config) as stack:
        fast = await stack.connect()
        assert isinstance(await fast.request({"type": "subscribe", "id": "s"}), SnapshotFrame)
        async with never_reading(stack) as slow:
            await feed_until_shed(stack, fast)
            shed_after = len(fast.events())
            # Reading now, the slow client finds what was sent before it was shed, then
            # the close frame.
            received, closed = await read_until_closed(slow)
            assert closed.rcvd is not None
            assert closed.rcvd.code == 1013
            assert "slow consumer" in closed.rcvd.reason
            assert len([f for f in received if isinstance(f, EventFrame)]) < shed_after
        stack.manager.tell(firing(host="after", annotations={"pad": PAD}))
        await fast.until_events(shed_after + 1)
        assert fast.events()[-1].event.payload["labels"] == {
            "alertname": "cpu",
            "host": "after",
        }
        seqs = fast.seqs()
        assert seqs == sorted(set(seqs))
        stats = await stack.registry_stats()
        assert (stats.shed, stats.connections) == (1, 1)
        value = stack.gateway.metrics.registry.get_sample_value("tocsin_slow_consumers_shed_total")
        assert value == 1
        await fast.close()


async def events_until_shed(send_buffer_bytes: int) -> int:
    """Return how many ~64 KB events a client that never reads is sent before it is shed."""
    config = gateway_config(max_pending_bytes=16 * 1024, send_buffer_bytes=send_buffer_bytes)
    async with serving(config=config) as stack:
        fast = await stack.connect()
        assert isinstance(await fast.request({"type": "subscribe", "id": "s"}), SnapshotFrame)
        async with never_reading(stack) as slow:
            events = await feed_until_shed(stack, fast)
            _, closed = await read_until_closed(slow)  # the close, not the timeout
            assert closed.rcvd is not None
            assert closed.rcvd.code == 1013
            return events


async def test_a_fixed_send_buffer_finds_a_client_that_does_not_read_after_little_data() -> None:
    # 64 KiB of SO_SNDBUF (128 KiB reserved by Linux) + 16 KiB unsent + what the client
    # library and its 4 KiB socket took in: a handful of 64 KB events. With the kernel's
    # autotuning (0) loopback absorbs megabytes first (~50 such events).
    capped = await events_until_shed(64 * 1024)
    assert capped <= 8, capped
