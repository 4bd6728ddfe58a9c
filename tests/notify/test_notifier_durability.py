"""The Notifier's outbox: durable before sending, redelivered after a crash, dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from actors.notify import DeadLetterNotFound, DeliveryError, ReplayDeadLetter, Replayed
from actors.store import MemoryStore, SqliteStore
from messages import Notification
from tests.alerting.harness import FlakyStore, GatedStore
from tests.notify.builders import T0
from tests.notify.http_server import HANG, WAIT, Gate, HttpServer, Respond
from tests.notify.notifier_harness import (
    DEAD,
    DELIVERED,
    FAILED,
    Crash,
    CrashableNotifier,
    item,
    keys_sent,
    running,
    webhook,
)


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


async def test_a_finished_append_is_handled_before_the_message_queued_ahead_of_its_news(
    http_server: HttpServer,
) -> None:
    # The status request reaches the mailbox before the writer's news that the append
    # finished (the writer resumes first, then tells it): it is answered with the send
    # already under way, not behind it.
    store = GatedStore(MemoryStore())
    await store.open()
    gate = Gate()
    http_server.script(gate)
    async with running(webhook(http_server.url), store=store) as run:
        store.hold()
        run.notifier.tell(item())
        await store.until_waiting()
        store.release()
        status = await run.status()
        assert (status.queued, status.in_flight) == (1, 1)
        gate.open()
        assert (await run.receipt(1)).outcome is DELIVERED
    await store.close()


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


async def test_a_delivery_error_without_a_message_still_gives_reasons() -> None:
    # A receipt's and a dead letter's error must not be empty: a channel that raises
    # DeliveryError("") used to make an invalid receipt, which crashed the notifier.
    class SilentChannel:
        name = "ops"
        calls = 0

        async def open(self) -> None:
            pass

        async def send(self, batch: Sequence[Notification]) -> None:
            SilentChannel.calls += 1
            raise DeliveryError("", retryable=SilentChannel.calls == 1)

        async def close(self) -> None:
            pass

    async with running(SilentChannel) as run:
        run.notifier.tell(item())
        failed = await run.receipt(1)
        assert failed.outcome is FAILED
        assert failed.error == "delivery failed (the channel gave no reason)"
        await run.advance(60.0)
        dead = await run.receipt(2)
        assert dead.outcome is DEAD
        assert dead.error is not None
        assert "the channel gave no reason" in dead.error
        assert (await run.status()).failed_attempts == 2  # the same instance: no restart


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
