"""A running Notifier for tests: a system on a FakeClock, a receipts inbox, real channels.

Nothing here sleeps: tests wait on receipts, on asks and on what the HTTP server saw,
and drive time with ``FakeClock.advance``; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from actors.notify import (
    OUTBOX,
    Channel,
    DeadLetterInfo,
    DeliveryPolicy,
    GetNotifierStatus,
    ListDeadLetters,
    Notifier,
    NotifierStatus,
    WebhookChannel,
    WebhookReceiverConfig,
    outbox_key,
)
from actors.notify._delivered_marks import load_delivered
from actors.notify._outbox_batches import load_outbox_batches
from actors.store import MemoryStore, Store
from messages import (
    DeliveryOutcome,
    DeliveryReceipt,
    DeliveryReceipts,
    Notification,
    NotificationKind,
)
from supervision import Actor, ActorRef, ActorSystem, ChildSpec, FakeClock
from tests.alerting.harness import Box
from tests.notify.builders import notification
from tests.notify.http_server import WAIT, HttpServer
from tests.notify.test_retry_policy import FixedRandom

DELIVERED = DeliveryOutcome.DELIVERED
FAILED = DeliveryOutcome.FAILED
DEAD = DeliveryOutcome.DEAD_LETTERED

POLICY = DeliveryPolicy(
    max_in_flight=4, failure_threshold=100, backoff_base=1.0, backoff_cap=60.0, max_attempts=5
)
"""A policy for tests: backoff after attempt n is 0.5 * 2**(n-1) with ``FixedRandom(0.5)``."""

TICK = 1 / 1024
"""A sliver of time that adds up exactly in binary floating point."""


def item(host: str = "a", kind: NotificationKind = NotificationKind.FIRING) -> Notification:
    """Return a ``kind`` notification for ``ops`` about the alert on ``host``."""
    return notification(kind, receiver="ops", host=host, key=f"{host}/{kind.value}")


def policy(**changes: object) -> DeliveryPolicy:
    """Return ``POLICY`` with ``changes``."""
    return DeliveryPolicy.model_validate({**POLICY.model_dump(), **changes})


def keys_sent(server: HttpServer) -> list[str]:
    """Return the idempotency keys of the requests ``server`` received, in order."""
    return [request.idempotency_key for request in server.requests]


class ReceiptInbox(Actor):
    """Stand in for the receipts target: put each receipt it is told in its ``Box``.

    A ``DeliveryReceipts`` batch puts its receipts one by one, in order, so tests count
    receipts, not messages; ``batches`` keeps the batches as they came. Anything else
    goes in the box as it is (a test that waits for receipts then sees it).
    """

    def __init__(self, box: Box, batches: list[DeliveryReceipts] | None = None) -> None:
        self.box = box
        self.batches = [] if batches is None else batches

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, DeliveryReceipts):
            self.batches.append(message)
            for receipt in message.receipts:
                self.box.put(receipt)
        else:
            self.box.put(message)
        return None


class Crash:
    """Tell it to a ``CrashableNotifier`` to make it raise (a crash, as a bug would)."""


class CrashableNotifier(Notifier):
    """A Notifier that crashes on ``Crash``: the supervisor restarts it behind its ref."""

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Crash):
            raise RuntimeError("crashed on purpose")
        return await super().on_receive(message)


def webhook(url: str, *, timeout: float = 10.0, **fields: Any) -> Callable[[], Channel]:
    """Return a factory of webhook channels to ``url`` named ``ops`` (fresh per start)."""
    config = WebhookReceiverConfig.model_validate(
        {"name": "ops", "url": url, "timeout": timeout, "trust_env": False, **fields}
    )
    return lambda: WebhookChannel(config, clock=FakeClock())


@dataclass
class Running:
    """A system with a ``notifier`` (receiver ``ops``) and a ``receipts`` inbox.

    ``receipts`` holds each receipt; ``batches`` the ``DeliveryReceipts`` they came in.
    """

    system: ActorSystem
    clock: FakeClock
    notifier: ActorRef
    receipts: Box
    store: Store
    batches: list[DeliveryReceipts]

    async def status(self) -> NotifierStatus:
        """Ask the notifier's status: everything told before is handled once it answers."""
        status = await self.notifier.ask(GetNotifierStatus())
        assert isinstance(status, NotifierStatus)
        return status

    async def dead_letters(self) -> tuple[DeadLetterInfo, ...]:
        letters = await self.notifier.ask(ListDeadLetters())
        assert isinstance(letters, tuple)
        return letters

    async def advance(self, seconds: float) -> None:
        """Let what was told be handled, move the clock, let the timers' messages in."""
        await self.status()
        self.clock.advance(seconds)
        await self.status()

    async def advance_to(self, moment: float) -> None:
        """Like ``advance``, to exactly ``moment`` on the fake clock."""
        await self.status()
        self.clock.advance(moment - self.clock.now())
        await self.status()

    async def receipt(self, count: int) -> DeliveryReceipt:
        """Wait for the ``count``-th receipt (1-based) and return it."""
        async with asyncio.timeout(WAIT):
            items = await self.receipts.until_count(count)
        receipt = items[count - 1]
        assert isinstance(receipt, DeliveryReceipt)
        return receipt

    def outcomes(self) -> list[tuple[str, DeliveryOutcome, int]]:
        return [
            (r.notification_id, r.outcome, r.attempts)
            for r in self.receipts.items
            if isinstance(r, DeliveryReceipt)
        ]

    async def outbox(self) -> Mapping[str, Mapping[str, Any]]:
        """Return the outbox as a restarted notifier would find it: key -> document.

        The records with a document of their own, and the undelivered entries of the
        batch documents (actors/notify/_outbox_batches.py).
        """
        return await stored_outbox(self.store, "ops")


async def stored_outbox(store: Store, receiver: str) -> dict[str, Mapping[str, Any]]:
    """Return ``receiver``'s outbox as stored: key -> record document (see ``outbox``)."""
    snapshot = await store.load()
    prefix = receiver + "/"
    own = {
        key: document
        for key, document in snapshot.documents.get(OUTBOX, {}).items()
        if key.startswith(prefix)
    }
    marks, _ = load_delivered(snapshot, receiver)
    found, problems = load_outbox_batches(snapshot, receiver, marks.keys, own)
    assert not problems, problems
    batched = {
        outbox_key(receiver, document["notification"]["id"]): document
        for _, document in found.records
    }
    return {**batched, **own}


@asynccontextmanager
async def running(
    channel: Callable[[], Channel],
    *,
    store: Store | None = None,
    policy: DeliveryPolicy = POLICY,
    notifier: type[Notifier] = Notifier,
    clock: FakeClock | None = None,
    rng: random.Random | None = None,
    store_retry_for: float = 10.0,
) -> AsyncIterator[Running]:
    """Run a notifier for receiver ``ops`` over ``store`` (opened and closed here if None)."""
    own_store = store is None
    the_store: Store = MemoryStore() if store is None else store
    if own_store:
        await the_store.open()
    clock = FakeClock() if clock is None else clock
    box, batches = Box(), list[DeliveryReceipts]()
    jitter = FixedRandom(0.5) if rng is None else rng
    try:
        async with ActorSystem(
            [
                ChildSpec("receipts", lambda: ReceiptInbox(box, batches)),
                ChildSpec(
                    "notifier",
                    lambda: notifier(
                        "ops",
                        channel(),
                        the_store,
                        policy=policy,
                        receipts="receipts",
                        rng=jitter,
                        store_retry_for=store_retry_for,
                    ),
                ),
            ],
            clock=clock,
            intensity=20,
        ) as system:
            yield Running(system, clock, system.lookup("notifier"), box, the_store, batches)
    finally:
        if own_store:
            await the_store.close()
