"""NotifierSupervisor: one notifier per receiver, routing, operators' requests, wiring."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from actors.alerting import AlertManagerConfig, GetStatus, Subscribe, alert_manager_spec
from actors.notify import (
    DeadLetterInfo,
    GetNotifierStatus,
    ListDeadLetters,
    NotifiersConfig,
    NotifierStatus,
    ReplayDeadLetter,
    Replayed,
    UnknownReceiver,
    notifier_supervisor_spec,
)
from actors.store import MemoryStore
from messages import (
    AlertTransition,
    DeliveryReceipt,
    DeliveryReceipts,
    Notification,
    TransitionKind,
)
from supervision import ActorRef, ActorSystem, ChildSpec, FakeClock
from tests.alerting.builders import firing
from tests.alerting.harness import Box, Inbox
from tests.notify.builders import T0, notification
from tests.notify.http_server import WAIT, HttpServer, Respond
from tests.notify.notifier_harness import DEAD, DELIVERED, ReceiptInbox
from tests.notify.smtp_server import SmtpServer
from tests.notify.test_retry_policy import FixedRandom


def config(server: HttpServer, **extra: Any) -> NotifiersConfig:
    base = f"http://127.0.0.1:{server.port}"
    return NotifiersConfig.model_validate(
        {
            "webhook": [
                {"name": "ops", "url": f"{base}/ops", "trust_env": False},
                {"name": "dev", "url": f"{base}/dev", "trust_env": False},
            ],
            "websocket": {},
            **extra,
        }
    )


@dataclass
class Tree:
    system: ActorSystem
    clock: FakeClock
    notifiers: ActorRef
    receipts: Box
    batches: list[DeliveryReceipts]

    async def receipts_until(self, count: int) -> list[DeliveryReceipt]:
        async with asyncio.timeout(WAIT):
            items = await self.receipts.until_count(count)
        return [item for item in items if isinstance(item, DeliveryReceipt)]


@asynccontextmanager
async def tree(notifiers: NotifiersConfig) -> AsyncIterator[Tree]:
    store = MemoryStore()
    await store.open()
    clock = FakeClock()
    box, batches = Box(), list[DeliveryReceipts]()
    async with ActorSystem(
        [
            ChildSpec("receipts", lambda: ReceiptInbox(box, batches)),
            ChildSpec("connection-registry", lambda: Inbox(Box())),
            notifier_supervisor_spec(notifiers, store, receipts="receipts", rng=FixedRandom(0.5)),
        ],
        clock=clock,
    ) as system:
        yield Tree(system, clock, system.lookup("notifiers"), box, batches)
    await store.close()


def to(receiver: str, host: str = "a") -> Notification:
    return notification(receiver=receiver, host=host, key=f"{receiver}/{host}")


async def test_there_is_one_notifier_per_receiver_named_by_kind_and_name(
    http_server: HttpServer,
) -> None:
    async with tree(config(http_server)) as run:
        children = await run.system.which_children(run.notifiers)
        assert [child.name for child in children] == [
            "notifier:webhook:ops",
            "notifier:webhook:dev",
            "notifier:websocket",
        ]
        assert {child.restart.value for child in children} == {"permanent"}


async def test_each_notification_goes_to_its_receivers_notifier(http_server: HttpServer) -> None:
    async with tree(config(http_server)) as run:
        run.notifiers.tell(to("ops"))
        run.notifiers.tell(to("dev"))
        receipts = await run.receipts_until(2)
        assert {(r.receiver, r.outcome) for r in receipts} == {
            ("ops", DELIVERED),
            ("dev", DELIVERED),
        }
    assert sorted((r.path, r.idempotency_key) for r in http_server.requests) == [
        ("/dev", "dev/a"),
        ("/ops", "ops/a"),
    ]


async def test_a_notification_for_an_unknown_receiver_is_dead_lettered_with_the_reason(
    http_server: HttpServer,
) -> None:
    async with tree(config(http_server)) as run:
        run.notifiers.tell(to("nobody"))
        [receipt] = await run.receipts_until(1)
        assert (receipt.receiver, receipt.outcome, receipt.attempts) == ("nobody", DEAD, 0)
        assert receipt.error == (
            "no receiver named 'nobody' is configured (configured: 'ops', 'dev', 'websocket')"
        )
        assert run.batches == [DeliveryReceipts(receipts=(receipt,))]  # as notifiers tell them
        with pytest.raises(UnknownReceiver) as caught:
            await run.notifiers.ask(to("nobody", "b"))
        assert caught.value.known == ("ops", "dev", "websocket")
    assert http_server.requests == []


async def test_operators_list_and_replay_dead_letters_through_the_supervisor(
    http_server: HttpServer,
) -> None:
    http_server.script(Respond(410), Respond(410))
    async with tree(config(http_server)) as run:
        run.notifiers.tell(to("ops"))
        run.notifiers.tell(to("dev"))
        await run.receipts_until(2)
        every: tuple[DeadLetterInfo, ...] = await run.notifiers.ask(ListDeadLetters())
        assert sorted(letter.receiver for letter in every) == ["dev", "ops"]
        [ops] = await run.notifiers.ask(ListDeadLetters("ops"))
        assert (ops.notification.id, ops.attempts) == ("ops/a", 1)
        replayed = await run.notifiers.ask(ReplayDeadLetter("dev", "dev/a"))
        assert replayed == Replayed("dev", ("dev/a",))
        receipts = await run.receipts_until(3)
        assert (receipts[2].receiver, receipts[2].outcome) == ("dev", DELIVERED)
        assert [letter.receiver for letter in await run.notifiers.ask(ListDeadLetters())] == ["ops"]
        with pytest.raises(UnknownReceiver):
            await run.notifiers.ask(ListDeadLetters("nobody"))


async def test_status_is_answered_for_one_receiver_or_for_all(http_server: HttpServer) -> None:
    async with tree(config(http_server)) as run:
        every = await run.notifiers.ask(GetNotifierStatus())
        assert [status.receiver for status in every] == ["ops", "dev", "websocket"]
        one = await run.notifiers.ask(GetNotifierStatus("dev"))
        assert isinstance(one, NotifierStatus)
        assert (one.receiver, one.queued, one.circuit.value) == ("dev", 0, "closed")
        with pytest.raises(UnknownReceiver):
            await run.notifiers.ask(GetNotifierStatus("nobody"))


async def test_the_delivery_policy_of_a_receiver_is_its_kinds_default_with_its_overrides(
    http_server: HttpServer,
) -> None:
    http_server.default = Respond(500)
    settings = config(http_server, delivery={"ops": {"max_attempts": 1}})
    async with tree(settings) as run:
        run.notifiers.tell(to("ops"))
        [receipt] = await run.receipts_until(1)
        assert (receipt.outcome, receipt.attempts) == (DEAD, 1)


async def test_an_alert_managers_notification_reaches_the_webhook_and_its_receipt_the_history(
    http_server: HttpServer,
) -> None:
    store = MemoryStore()
    await store.open()
    notifiers = NotifiersConfig.model_validate(
        {"webhook": [{"name": "team", "url": http_server.url, "trust_env": False}]}
    )
    alerting = AlertManagerConfig.model_validate(
        {"route": {"receiver": "team", "group_by": ["alertname"], "group_wait": 0}}
    )
    clock = FakeClock()
    async with ActorSystem(
        [notifier_supervisor_spec(notifiers, store, receipts="alert-manager")], clock=clock
    ) as system:
        # The cycle is broken by name: the manager gets the notifiers' ref, the notifiers
        # look the manager up when a receipt is due.
        manager = await system.start_child(
            alert_manager_spec(store, config=alerting, notifications=system.lookup("notifiers"))
        )
        history = Box()
        await manager.ask(Subscribe(await system.spawn(lambda: Inbox(history), "history")))
        manager.tell(firing())
        await manager.ask(GetStatus())
        clock.advance(0)  # group_wait 0: the flush is due at the next tick
        [request] = await http_server.wait_requests(1)
        [sent] = request.json()["notifications"]
        assert (sent["receiver"], sent["kind"]) == ("team", "firing")
        assert sent["labels"]["alertname"] == "cpu"
        assert sent["created_at"] == T0

        def outcomes() -> list[AlertTransition]:
            return [
                item
                for item in history.items
                if isinstance(item, AlertTransition)
                and item.kind is TransitionKind.NOTIFICATION_OUTCOME
            ]

        async with asyncio.timeout(WAIT):
            await history.until(lambda: bool(outcomes()))
        [outcome] = outcomes()
        assert outcome.payload["notification_id"] == sent["id"]
        assert (outcome.payload["receiver"], outcome.payload["outcome"]) == ("team", "delivered")
    await store.close()


async def test_an_email_receiver_gets_its_notification_through_the_supervisor(
    smtp_server: SmtpServer,
) -> None:
    notifiers = NotifiersConfig.model_validate(
        {
            "email": [
                {
                    "name": "oncall",
                    "host": "127.0.0.1",
                    "port": smtp_server.port,
                    "starttls": False,
                    "from": "tocsin@example.org",
                    "to": ["oncall@example.org"],
                }
            ]
        }
    )
    async with tree(notifiers) as run:
        run.notifiers.tell(to("oncall"))
        [receipt] = await run.receipts_until(1)
        assert (receipt.receiver, receipt.outcome) == ("oncall", DELIVERED)
        async with asyncio.timeout(WAIT):
            [received] = await smtp_server.handler.wait_for_messages(1)
        assert received.recipients == ["oncall@example.org"]
        assert "HighCpu" in received.message["Subject"]
