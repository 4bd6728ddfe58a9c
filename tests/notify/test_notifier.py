"""The Notifier actor over a real webhook channel and a loopback HTTP server, on a FakeClock."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from actors.notify import CircuitState as Circuit
from actors.notify import (
    DeadLetterNotFound,
    DeliveryPolicy,
    ReplayDeadLetter,
    Replayed,
)
from actors.store import MemoryStore, SqliteStore
from messages import Notification, NotificationKind
from tests.alerting.harness import FlakyStore, GatedStore
from tests.notify.builders import T0, notification
from tests.notify.http_server import HANG, WAIT, Gate, HttpServer, Respond, closed_port_url
from tests.notify.notifier_harness import (
    DEAD,
    DELIVERED,
    FAILED,
    POLICY,
    Crash,
    CrashableNotifier,
    running,
    webhook,
)

TICK = 1 / 1024
"""A sliver of time that adds up exactly in binary floating point."""


def item(host: str = "a", kind: NotificationKind = NotificationKind.FIRING) -> Notification:
    return notification(kind, receiver="ops", host=host, key=f"{host}/{kind.value}")


def policy(**changes: object) -> DeliveryPolicy:
    return DeliveryPolicy.model_validate({**POLICY.model_dump(), **changes})


def keys_sent(server: HttpServer) -> list[str]:
    return [request.idempotency_key for request in server.requests]


async def test_a_notification_is_delivered_with_a_receipt_and_leaves_the_outbox(
    http_server: HttpServer,
) -> None:
    async with running(webhook(http_server.url)) as run:
        run.notifier.tell(item())
        receipt = await run.receipt(1)
        assert (receipt.notification_id, receipt.receiver) == ("a/firing", "ops")
        assert (receipt.outcome, receipt.attempts, receipt.error) == (DELIVERED, 1, None)
        assert receipt.latency_s == 0.0
        assert await run.outbox() == {}
        status = await run.status()
        assert (status.queued, status.delivered, status.dead_letters) == (0, 1, 0)
    assert keys_sent(http_server) == ["a/firing"]


async def test_a_notification_is_durable_in_the_outbox_before_the_first_attempt(
    http_server: HttpServer,
) -> None:
    store = GatedStore(MemoryStore())
    await store.open()
    gate = Gate()
    http_server.script(gate)
    async with running(webhook(http_server.url), store=store) as run:
        store.hold()
        run.notifier.tell(item())
        await store.until_waiting()
        status = await run.status()
        assert (status.queued, status.in_flight) == (1, 0)
        assert http_server.requests == []
        store.release()
        await http_server.until(lambda: http_server.hanging == 1)
        [document] = (await run.outbox()).values()
        assert document["notification"]["id"] == "a/firing"
        assert (document["attempts"], document["dead_at"]) == (0, None)
        gate.open()
        assert (await run.receipt(1)).outcome is DELIVERED
        assert await run.outbox() == {}
    await store.close()


async def test_a_503_then_200_is_retried_once_after_the_backoff_with_the_same_key(
    http_server: HttpServer,
) -> None:
    http_server.script(Respond(503))
    async with running(webhook(http_server.url)) as run:
        run.notifier.tell(item())
        failed = await run.receipt(1)
        assert (failed.outcome, failed.attempts) == (FAILED, 1)
        assert failed.error is not None
        assert "HTTP 503" in failed.error
        [document] = (await run.outbox()).values()
        assert document["attempts"] == 1
        await run.advance(0.5 - TICK)  # FixedRandom(0.5) * base 1.0
        assert (await run.status()).in_flight == 0
        assert len(http_server.requests) == 1
        await run.advance(TICK)
        delivered = await run.receipt(2)
        assert (delivered.outcome, delivered.attempts) == (DELIVERED, 2)
        assert delivered.latency_s == 0.5
    assert keys_sent(http_server) == ["a/firing", "a/firing"]


async def test_a_receiver_that_keeps_failing_gets_exactly_max_attempts_requests(
    http_server: HttpServer,
) -> None:
    http_server.default = Respond(500)
    async with running(webhook(http_server.url), policy=policy(max_attempts=4)) as run:
        run.notifier.tell(item())
        for attempt, backoff in enumerate([0.5, 1.0, 2.0], start=1):
            receipt = await run.receipt(attempt)
            assert (receipt.outcome, receipt.attempts) == (FAILED, attempt)
            await run.advance(backoff)
        dead = await run.receipt(4)
        assert (dead.outcome, dead.attempts) == (DEAD, 4)
        assert dead.error is not None
        assert "gave up after 4 attempts" in dead.error
        await run.advance(3600)
        assert len(http_server.requests) == 4
        [letter] = await run.dead_letters()
        assert letter.attempts == 4
    assert set(keys_sent(http_server)) == {"a/firing"}


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [
        (429, {"Retry-After": "7"}, 7.0),
        (
            503,
            {
                "Date": "Tue, 14 Nov 2023 22:13:20 GMT",
                "Retry-After": "Tue, 14 Nov 2023 22:14:50 GMT",
            },
            90.0,
        ),
    ],
)
async def test_retry_after_schedules_the_next_attempt_exactly_that_much_later(
    http_server: HttpServer, status: int, headers: dict[str, str], wait: float
) -> None:
    http_server.script(Respond(status, headers=headers))
    async with running(webhook(http_server.url)) as run:
        run.notifier.tell(item())
        failed = await run.receipt(1)
        assert failed.outcome is FAILED
        await run.advance(wait - TICK)
        assert (await run.status()).in_flight == 0
        assert len(http_server.requests) == 1
        await run.advance(TICK)
        assert (await run.receipt(2)).outcome is DELIVERED
        assert run.clock.now() == wait


async def test_a_response_that_never_comes_times_out_and_is_retried(
    http_server: HttpServer,
) -> None:
    http_server.script(HANG)
    async with running(webhook(http_server.url, timeout=0.2, connect_timeout=10.0)) as run:
        run.notifier.tell(item())
        failed = await run.receipt(1)
        assert failed.error is not None
        assert "timed out" in failed.error
        await http_server.until(lambda: http_server.abandoned == 1)
        await run.advance(0.5)
        assert (await run.receipt(2)).outcome is DELIVERED
    assert keys_sent(http_server) == ["a/firing", "a/firing"]


async def test_a_refused_connection_is_retried_and_then_dead_lettered() -> None:
    async with running(webhook(closed_port_url()), policy=policy(max_attempts=2)) as run:
        run.notifier.tell(item())
        failed = await run.receipt(1)
        assert failed.error is not None
        assert "connection failed" in failed.error
        await run.advance(0.5)
        assert (await run.receipt(2)).outcome is DEAD


async def test_the_circuit_opens_sends_nothing_while_open_then_probes_once_and_closes(
    http_server: HttpServer,
) -> None:
    http_server.default = Respond(500)
    settings = policy(failure_threshold=2, cool_down=30.0, max_attempts=10)
    async with running(webhook(http_server.url), policy=settings) as run:
        run.notifier.tell(item("a"))
        run.notifier.tell(item("b"))
        await run.receipt(2)
        assert (await run.status()).circuit is Circuit.OPEN
        await run.advance(10.0)  # past both backoffs: the open circuit holds them
        run.notifier.tell(item("c"))
        status = await run.status()
        assert (status.queued, status.in_flight, len(http_server.requests)) == (3, 0, 2)
        probe = Gate()
        http_server.script(probe)
        http_server.default = Respond()
        await run.advance_to(30.0)
        await http_server.until(lambda: http_server.hanging == 1)
        status = await run.status()
        assert (status.circuit, status.in_flight, len(http_server.requests)) == (
            Circuit.HALF_OPEN,
            1,
            3,
        )
        probe.open()
        await run.receipt(5)
        assert sorted(r for r in run.outcomes() if r[1] is DELIVERED) == [
            ("a/firing", DELIVERED, 2),
            ("b/firing", DELIVERED, 2),
            ("c/firing", DELIVERED, 1),
        ]
        assert (await run.status()).circuit is Circuit.CLOSED
    assert len(http_server.requests) == 5


async def test_rate_limiting_holds_the_excess_in_order_and_drops_nothing(
    http_server: HttpServer,
) -> None:
    hosts = "abcdef"
    settings = policy(rate=1.0, burst=2, max_in_flight=1)  # one connection: arrival order
    async with running(webhook(http_server.url), policy=settings) as run:
        for host in hosts:
            run.notifier.tell(item(host))
        await run.receipt(2)
        status = await run.status()
        assert (status.queued, len(http_server.requests)) == (4, 2)
        for sent in range(3, 7):
            await run.advance(1.0)
            await run.receipt(sent)
            assert len(http_server.requests) == sent
    assert keys_sent(http_server) == [f"{host}/firing" for host in hosts]
    assert [outcome for _, outcome, _ in run.outcomes()] == [DELIVERED] * 6


async def test_when_rate_limited_waiting_notifications_are_batched_into_one_request(
    http_server: HttpServer,
) -> None:
    settings = policy(rate=1.0, burst=1, batch_max=3)
    async with running(webhook(http_server.url), policy=settings) as run:
        for host in "abcdefg":
            run.notifier.tell(item(host))
        await run.receipt(3)
        await run.advance(1.0)
        await run.receipt(6)
        await run.advance(1.0)
        await run.receipt(7)
    batches = [[n["id"] for n in r.json()["notifications"]] for r in http_server.requests]
    assert batches == [
        ["a/firing", "b/firing", "c/firing"],
        ["d/firing", "e/firing", "f/firing"],
        ["g/firing"],
    ]


async def test_an_alerts_resolution_waits_until_its_firing_notification_is_delivered(
    http_server: HttpServer,
) -> None:
    http_server.script(Respond(500))
    one_at_a_time = policy(max_in_flight=1)  # so that a reaches the server first
    async with running(webhook(http_server.url), policy=one_at_a_time) as run:
        run.notifier.tell(item("a"))
        run.notifier.tell(item("a", NotificationKind.RESOLVED))
        run.notifier.tell(item("b"))
        await run.receipt(2)  # a failed, b delivered: b did not wait for a
        assert len(http_server.requests) == 2
        assert (await run.status()).in_flight == 0
        await run.advance(0.5)
        await run.receipt(4)
    assert keys_sent(http_server) == ["a/firing", "b/firing", "a/firing", "a/resolved"]


async def test_the_same_notification_told_twice_is_sent_once(http_server: HttpServer) -> None:
    gate = Gate()
    http_server.script(gate)
    async with running(webhook(http_server.url)) as run:
        run.notifier.tell(item())
        await http_server.until(lambda: http_server.hanging == 1)
        run.notifier.tell(item())
        assert (await run.status()).queued == 1
        gate.open()
        await run.receipt(1)
        assert (await run.status()).queued == 0
    assert len(http_server.requests) == 1


async def test_a_notifier_killed_mid_send_redelivers_after_its_restart_with_the_same_key(
    http_server: HttpServer,
) -> None:
    http_server.script(HANG)
    async with running(webhook(http_server.url), notifier=CrashableNotifier) as run:
        run.notifier.tell(item())
        await http_server.until(lambda: http_server.hanging == 1)
        run.notifier.tell(Crash())
        receipt = await run.receipt(1)
        assert receipt.outcome is DELIVERED
        assert await run.outbox() == {}
    assert http_server.abandoned == 1
    assert keys_sent(http_server) == ["a/firing", "a/firing"]


async def test_a_process_restart_redelivers_what_was_in_flight_with_the_same_key(
    http_server: HttpServer, tmp_path: Path
) -> None:
    path = tmp_path / "tocsin.db"
    http_server.script(HANG)
    async with SqliteStore(path) as store, running(webhook(http_server.url), store=store) as run:
        run.notifier.tell(item("a"))
        run.notifier.tell(item("b"))
        await http_server.until(lambda: http_server.hanging == 1)
        hung = http_server.requests[0].idempotency_key  # a or b: they race to the server
        await run.receipt(1)  # the other one is delivered; this one hangs until the stop
    async with SqliteStore(path) as store, running(webhook(http_server.url), store=store) as run:
        receipt = await run.receipt(1)
        assert (receipt.notification_id, receipt.outcome) == (hung, DELIVERED)
        assert await run.outbox() == {}
    assert sorted(keys_sent(http_server)) == sorted(["a/firing", "b/firing", hung])
    assert keys_sent(http_server)[-1] == hung


async def test_a_permanent_failure_is_a_dead_letter_that_can_be_listed_and_replayed(
    http_server: HttpServer,
) -> None:
    http_server.script(Respond(400, body=b"bad payload"))
    async with running(webhook(http_server.url)) as run:
        run.notifier.tell(item())
        dead = await run.receipt(1)
        assert (dead.outcome, dead.attempts) == (DEAD, 1)
        assert dead.error == "permanent failure: HTTP 400: bad payload"
        [letter] = await run.dead_letters()
        assert (letter.receiver, letter.notification, letter.attempts) == ("ops", item(), 1)
        assert (letter.error, letter.dead_at) == (dead.error, T0)
        [document] = (await run.outbox()).values()
        assert document["dead_at"] == T0
        replayed = await run.notifier.ask(ReplayDeadLetter("ops", "a/firing"))
        assert replayed == Replayed("ops", ("a/firing",))
        receipt = await run.receipt(2)
        assert (receipt.outcome, receipt.attempts) == (DELIVERED, 1)
        assert await run.dead_letters() == ()
        assert await run.outbox() == {}
        with pytest.raises(DeadLetterNotFound, match="nope"):
            await run.notifier.ask(ReplayDeadLetter("ops", "nope"))
    assert keys_sent(http_server) == ["a/firing", "a/firing"]


async def test_dead_letters_survive_a_restart_unsent_and_can_all_be_replayed(
    http_server: HttpServer,
) -> None:
    http_server.script(Respond(404), Respond(404))
    async with running(webhook(http_server.url), notifier=CrashableNotifier) as run:
        run.notifier.tell(item("a"))
        run.notifier.tell(item("b"))
        await run.receipt(2)
        run.notifier.tell(Crash())
        assert (await run.status()).dead_letters == 2
        assert len(http_server.requests) == 2
        replayed = await run.notifier.ask(ReplayDeadLetter("ops"))
        assert sorted(replayed.notification_ids) == ["a/firing", "b/firing"]
        await run.receipt(4)
        assert await run.dead_letters() == ()
    assert len(http_server.requests) == 4


async def test_what_waits_behind_an_open_circuit_past_max_age_dies_without_a_try(
    http_server: HttpServer,
) -> None:
    http_server.default = Respond(500)
    settings = policy(failure_threshold=1, cool_down=1000.0, max_age=60.0)
    async with running(webhook(http_server.url), policy=settings) as run:
        run.notifier.tell(item("a"))
        await run.receipt(1)
        run.notifier.tell(item("b"))
        await run.advance(60.0)
        outcomes = run.outcomes()
        assert outcomes[1:] == [("a/firing", DEAD, 1), ("b/firing", DEAD, 0)]
        assert len(await run.dead_letters()) == 2
    assert len(http_server.requests) == 1


async def test_a_channel_bug_dead_letters_the_notification_instead_of_crashing() -> None:
    class BuggyChannel:
        name = "ops"

        async def open(self) -> None:
            pass

        async def send(self, batch: Sequence[Notification]) -> None:
            raise RuntimeError("bug in the channel")

        async def close(self) -> None:
            pass

    async with running(BuggyChannel) as run:
        run.notifier.tell(item())
        dead = await run.receipt(1)
        assert dead.error is not None
        assert "bug in the channel" in dead.error
        assert (await run.status()).failed_attempts == 1  # the same instance: no restart


async def test_an_outbox_write_the_store_refuses_is_retried_before_the_send(
    http_server: HttpServer,
) -> None:
    store = FlakyStore(MemoryStore())
    await store.open()
    store.failures = 1
    async with running(webhook(http_server.url), store=store) as run:
        run.notifier.tell(item())
        await store.until_failed(1)
        assert http_server.requests == []
        await run.advance(0.05)
        assert (await run.receipt(1)).outcome is DELIVERED
    await store.close()


async def test_when_the_store_stays_unavailable_the_notification_is_delivered_anyway(
    http_server: HttpServer,
) -> None:
    store = FlakyStore(MemoryStore())
    await store.open()
    store.failures = 1
    async with running(webhook(http_server.url), store=store, store_retry_for=0.0) as run:
        run.notifier.tell(item())
        assert (await run.receipt(1)).outcome is DELIVERED
    await store.close()


async def test_a_notifier_stops_promptly_while_the_store_refuses_its_writes(
    http_server: HttpServer,
) -> None:
    store = FlakyStore(MemoryStore())
    await store.open()
    store.failures = 1_000
    async with asyncio.timeout(WAIT):
        async with running(webhook(http_server.url), store=store, store_retry_for=60.0) as run:
            run.notifier.tell(item())
            await store.until_failed(1)  # the writer now waits on the fake clock to retry
    assert http_server.requests == []
    await store.close()
