"""The outbox documents: their shape, reloading them, and what a notifier does with them."""

from __future__ import annotations

from typing import Any

from actors.notify import OUTBOX, OutboxRecord, outbox_key
from actors.notify._outbox import load_outbox
from actors.store import MemoryStore, Snapshot, StateWrite
from tests.notify.builders import T0
from tests.notify.http_server import HttpServer, Respond
from tests.notify.notifier_harness import DEAD, DELIVERED, item, policy, running, webhook


def record(host: str, order: int, **fields: Any) -> OutboxRecord:
    return OutboxRecord("ops", item(host), recorded_at=T0, order=order, **fields)


def snapshot(*documents: tuple[str, Any]) -> Snapshot:
    return Snapshot(last_seq=0, documents={OUTBOX: dict(documents)})


def test_a_record_survives_its_document_round_trip() -> None:
    original = record("a", 3, attempts=2, error="HTTP 503", dead_at=T0 + 5)
    assert OutboxRecord.from_document(original.document()) == original
    assert original.key == outbox_key("ops", "a/firing") == "ops/a/firing"
    assert original.dead


def test_the_alert_start_survives_the_document_round_trip() -> None:
    original = OutboxRecord(
        "ops", item("a").model_copy(update={"starts_at": T0 - 60}), recorded_at=T0, order=0
    )
    restored = OutboxRecord.from_document(original.document())
    assert restored == original
    assert restored.notification.starts_at == T0 - 60


def legacy_document(host: str, order: int) -> dict[str, Any]:
    """Return an outbox document as a Tocsin without ``Notification.starts_at`` wrote it."""
    document = record(host, order).document()
    del document["notification"]["starts_at"]
    return document


def test_a_document_written_before_notifications_had_a_start_still_loads() -> None:
    restored = OutboxRecord.from_document(legacy_document("a", 0))
    assert restored.notification.starts_at is None
    assert restored.notification.alert_started_at == restored.notification.created_at == T0
    assert restored == record("a", 0)


async def test_a_legacy_outbox_row_is_redelivered_with_its_creation_as_the_start(
    http_server: HttpServer,
) -> None:
    store = await seeded(extra={"ops/a/firing": legacy_document("a", 0)})
    async with running(webhook(http_server.url, payload="alertmanager"), store=store) as run:
        assert (await run.receipt(1)).outcome is DELIVERED
    [request] = await http_server.wait_requests(1)
    [alert] = request.json()["alerts"]
    assert alert["startsAt"] == "2023-11-14T22:13:20Z"
    assert request.idempotency_key == "a/firing"
    await store.close()


def test_reloading_keeps_a_receivers_records_in_arrival_order_and_reports_bad_ones() -> None:
    b, a = record("b", 1), record("a", 0)
    other = OutboxRecord("dev", item("c"), recorded_at=T0, order=0)
    records, problems = load_outbox(
        snapshot(
            (b.key, b.document()),
            (a.key, a.document()),
            (other.key, other.document()),
            ("ops/broken", {"receiver": "ops"}),
            ("ops/elsewhere", a.document()),
        ),
        "ops",
    )
    assert records == [a, b]
    assert [problem.split(":")[0] for problem in problems] == ["ops/broken", "ops/elsewhere"]


async def seeded(*records: OutboxRecord, extra: dict[str, Any] | None = None) -> MemoryStore:
    store = MemoryStore()
    await store.open()
    writes = [StateWrite(OUTBOX, r.key, r.document()) for r in records]
    writes += [StateWrite(OUTBOX, key, value) for key, value in (extra or {}).items()]
    await store.append([], writes)
    return store


async def test_a_notifier_starts_despite_an_unreadable_document_and_sends_the_rest(
    http_server: HttpServer,
) -> None:
    store = await seeded(record("a", 0), extra={"ops/broken": {"receiver": "ops"}})
    async with running(webhook(http_server.url), store=store) as run:
        assert (await run.receipt(1)).outcome is DELIVERED
        assert list(await run.outbox()) == ["ops/broken"]  # left for an operator to see
    await store.close()


async def test_attempts_made_before_a_restart_count_towards_the_limit(
    http_server: HttpServer,
) -> None:
    http_server.default = Respond(500)
    store = await seeded(record("a", 0, attempts=3, error="HTTP 500"))
    async with running(webhook(http_server.url), store=store, policy=policy(max_attempts=4)) as run:
        dead = await run.receipt(1)
        assert (dead.outcome, dead.attempts) == (DEAD, 4)
    assert len(http_server.requests) == 1
    await store.close()


async def test_a_reloaded_notification_older_than_max_age_dies_without_being_sent(
    http_server: HttpServer,
) -> None:
    old = OutboxRecord("ops", item("a"), recorded_at=T0 - 7200, order=0, attempts=1)
    store = await seeded(old)
    async with running(webhook(http_server.url), store=store) as run:
        dead = await run.receipt(1)
        assert (dead.outcome, dead.attempts) == (DEAD, 1)
        assert dead.error is not None
        assert "expired" in dead.error
        [letter] = await run.dead_letters()
        assert letter.notification == item("a")
    assert http_server.requests == []
    await store.close()


async def test_a_reloaded_dead_letter_is_listed_not_sent(http_server: HttpServer) -> None:
    dead = record("a", 0, attempts=2, error="HTTP 404", dead_at=T0 - 10)
    store = await seeded(dead)
    async with running(webhook(http_server.url), store=store) as run:
        [letter] = await run.dead_letters()
        assert (letter.attempts, letter.error, letter.dead_at) == (2, "HTTP 404", T0 - 10)
        assert (await run.status()).queued == 0
    assert http_server.requests == []
    await store.close()
