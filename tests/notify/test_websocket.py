"""WebSocketChannel: notifications handed to a real actor standing in as the registry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from actors.notify import (
    DeliveryError,
    DeliveryPolicy,
    Notifier,
    NotifiersConfig,
    WebSocketChannel,
    notifier_supervisor_spec,
)
from actors.store import MemoryStore
from messages import DeliveryReceipt, Notification, NotificationKind
from supervision import ActorNotFound, ActorRef, ActorSystem, ChildSpec, FakeClock
from tests.alerting.harness import Box, Inbox
from tests.notify.builders import notification
from tests.notify.http_server import WAIT
from tests.notify.notifier_harness import DELIVERED, FAILED, ReceiptInbox
from tests.notify.test_retry_policy import FixedRandom


class Registry(Inbox):
    """Stands in for the gateway's connection registry: keeps what it is told."""


@dataclass
class Edge:
    system: ActorSystem
    clock: FakeClock
    notifiers: ActorRef
    receipts: Box

    async def receipt(self, count: int) -> DeliveryReceipt:
        async with asyncio.timeout(WAIT):
            items = await self.receipts.until_count(count)
        receipt = items[count - 1]
        assert isinstance(receipt, DeliveryReceipt)
        return receipt


@asynccontextmanager
async def edge(*, registry: Box | None) -> AsyncIterator[Edge]:
    """Run the notifiers with only a WebSocket receiver; a registry if ``registry``."""
    store = MemoryStore()
    await store.open()
    clock = FakeClock()
    receipts = Box()
    config = NotifiersConfig.model_validate({"websocket": {}})
    children = [ChildSpec("receipts", lambda: ReceiptInbox(receipts))]
    if registry is not None:
        children.append(ChildSpec("connection-registry", lambda: Registry(registry)))
    children.append(
        notifier_supervisor_spec(config, store, receipts="receipts", rng=FixedRandom(0.5))
    )
    async with ActorSystem(children, clock=clock) as system:
        yield Edge(system, clock, system.lookup("notifiers"), receipts)
    await store.close()


def about(host: str, kind: NotificationKind = NotificationKind.FIRING) -> Notification:
    return notification(kind, receiver="websocket", host=host, key=f"{host}/{kind.value}")


async def test_the_registry_receives_each_notification_in_order() -> None:
    box = Box()
    told = [about("a"), about("b"), about("a", NotificationKind.RESOLVED)]
    async with edge(registry=box) as run:
        for item in told:
            run.notifiers.tell(item)
        for count in range(1, 4):
            assert (await run.receipt(count)).outcome is DELIVERED
        assert box.items == told


async def test_a_registry_that_is_not_running_yet_is_retried_until_it_is() -> None:
    box = Box()
    async with edge(registry=None) as run:
        run.notifiers.tell(about("a"))
        failed = await run.receipt(1)
        assert failed.outcome is FAILED
        assert failed.error is not None
        assert "not running" in failed.error
        await run.system.spawn(lambda: Registry(box), "connection-registry")
        run.clock.advance(0.5)  # the backoff: FixedRandom(0.5) * 1 s
        assert (await run.receipt(2)).outcome is DELIVERED
        assert box.items == [about("a")]


async def test_a_registry_that_has_stopped_is_a_retryable_failure() -> None:
    async with ActorSystem([ChildSpec("registry", lambda: Inbox(Box()))]) as system:
        ref = system.lookup("registry")
        await system.terminate_child("registry")
        channel = WebSocketChannel(ref)
        with pytest.raises(DeliveryError, match="stopped") as caught:
            await channel.send([about("a")])
        assert caught.value.retryable


async def test_a_registry_that_cannot_be_found_is_a_retryable_failure() -> None:
    def nowhere() -> ActorRef:
        raise ActorNotFound("connection-registry")

    channel = WebSocketChannel(nowhere)
    await channel.open()
    with pytest.raises(DeliveryError, match="not running") as caught:
        await channel.send([about("a")])
    await channel.close()
    assert caught.value.retryable


class Blocked(Inbox):
    """A registry that keeps its first message's handler waiting on ``gate``."""

    def __init__(self, box: Box, gate: asyncio.Event) -> None:
        super().__init__(box)
        self.gate = gate

    async def on_receive(self, message: Any) -> Any:
        self.box.put(message)
        await self.gate.wait()


async def test_a_registry_whose_mailbox_stays_full_is_a_retryable_failure() -> None:
    # The real clock: the wait for room is what is tested, bounded at 50 ms.
    gate = asyncio.Event()
    box = Box()
    spec = ChildSpec("registry", lambda: Blocked(box, gate), mailbox_size=1)
    async with ActorSystem([spec]) as system:
        registry = system.lookup("registry")
        registry.tell("busy")
        await box.until(lambda: box.items == ["busy"])  # held by the handler
        channel = WebSocketChannel(registry, timeout=0.05)
        with pytest.raises(DeliveryError, match="not keeping up") as caught:
            await channel.send([about("a"), about("b")])  # "a" fills the mailbox
        assert caught.value.retryable
        gate.set()


async def test_a_notifier_with_the_websocket_channel_delivers_to_the_registry_ref() -> None:
    store = MemoryStore()
    await store.open()
    box, receipts = Box(), Box()
    async with ActorSystem([ChildSpec("registry", lambda: Registry(box))]) as system:
        registry = system.lookup("registry")
        await system.spawn(lambda: ReceiptInbox(receipts), "receipts")
        notifier = await system.spawn(
            lambda: Notifier(
                "websocket",
                WebSocketChannel(registry),
                store,
                policy=DeliveryPolicy(max_in_flight=1),
                receipts="receipts",
            ),
            "notifier",
        )
        notifier.tell(about("a"))
        async with asyncio.timeout(WAIT):
            [receipt] = await receipts.until_count(1)
        assert receipt.outcome is DELIVERED
        assert box.items == [about("a")]
    await store.close()
