"""The Notifier's receipts: one DeliveryReceipts per message handled, every receipt, in order."""

from __future__ import annotations

from actors.store import MemoryStore
from supervision import FakeClock
from tests.notify.builders import T0
from tests.notify.http_server import HANG, HttpServer, Respond
from tests.notify.notifier_harness import DEAD, DELIVERED, FAILED, item, policy, running, webhook


async def test_the_receipts_of_one_batched_request_come_as_one_message_in_order(
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
        assert len(http_server.requests) == 3
        batches = [[r.notification_id for r in batch.receipts] for batch in run.batches]
        assert batches == [
            ["a/firing", "b/firing", "c/firing"],
            ["d/firing", "e/firing", "f/firing"],
            ["g/firing"],
        ]
        assert [receipt for batch in run.batches for receipt in batch.receipts] == (
            run.receipts.items
        )
        assert {outcome for _, outcome, _ in run.outcomes()} == {DELIVERED}


async def test_notifications_that_expire_together_are_reported_in_one_message_in_order(
    http_server: HttpServer,
) -> None:
    http_server.default = Respond(500)
    settings = policy(failure_threshold=1, cool_down=1000.0, max_age=60.0)
    async with running(webhook(http_server.url), policy=settings) as run:
        run.notifier.tell(item("a"))
        assert (await run.receipt(1)).outcome is FAILED  # and the circuit opens
        run.notifier.tell(item("b"))
        run.notifier.tell(item("c"))
        await run.advance(60.0)
        await run.receipt(4)
        first, expired = run.batches
        assert [(r.notification_id, r.outcome) for r in first.receipts] == [("a/firing", FAILED)]
        assert [(r.notification_id, r.outcome, r.attempts) for r in expired.receipts] == [
            ("a/firing", DEAD, 1),
            ("b/firing", DEAD, 0),
            ("c/firing", DEAD, 0),
        ]
        assert len(await run.dead_letters()) == 3
    assert len(http_server.requests) == 1


async def test_what_expired_in_the_outbox_while_the_notifier_was_down_is_reported_at_start(
    http_server: HttpServer,
) -> None:
    store = MemoryStore()
    await store.open()
    settings = policy(max_age=60.0)
    http_server.script(HANG, HANG, HANG)
    async with running(webhook(http_server.url), store=store, policy=settings) as run:
        for host in "abc":
            run.notifier.tell(item(host))
        await http_server.until(lambda: http_server.hanging == 3)
    # The process comes back 61 s later: on start, before any message, the three expire.
    later = FakeClock(epoch=T0 + 61.0)
    async with running(webhook(http_server.url), store=store, policy=settings, clock=later) as run:
        await run.receipt(3)
        assert sorted(run.outcomes()) == [
            ("a/firing", DEAD, 0),
            ("b/firing", DEAD, 0),
            ("c/firing", DEAD, 0),
        ]
        assert all(r.error and r.error.startswith("expired") for r in run.receipts.items)
        assert len(await run.dead_letters()) == 3
    await store.close()
    assert len(http_server.requests) == 3
