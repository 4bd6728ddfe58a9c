"""The Notifier remembers what it delivered: a notification told again is not sent twice."""

from __future__ import annotations

from typing import Any

import pytest

from actors.notify import Notifier
from actors.notify._outbox import DELIVERED
from actors.store import MemoryStore
from tests.notify.http_server import HttpServer
from tests.notify.notifier_harness import DELIVERED as DELIVERED_OUTCOME
from tests.notify.notifier_harness import item, keys_sent, running, webhook


class RememberTwo(Notifier):
    """A Notifier that remembers its last two deliveries only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, remember_delivered=2, **kwargs)


async def test_a_notification_delivered_before_a_restart_is_not_sent_again_after_it(
    http_server: HttpServer,
) -> None:
    store = MemoryStore()
    await store.open()
    async with running(webhook(http_server.url), store=store) as run:
        run.notifier.tell(item("a"))
        assert (await run.receipt(1)).outcome is DELIVERED_OUTCOME
    async with running(webhook(http_server.url), store=store) as run:  # a new process
        run.notifier.tell(item("a"))  # a restarted alert manager re-sends what it cannot know
        run.notifier.tell(item("b"))
        assert (await run.receipt(1)).notification_id == "b/firing"
        assert await run.outbox() == {}
    assert keys_sent(http_server) == ["a/firing", "b/firing"]
    await store.close()


async def test_only_the_last_deliveries_are_remembered(http_server: HttpServer) -> None:
    store = MemoryStore()
    await store.open()
    async with running(webhook(http_server.url), store=store, notifier=RememberTwo) as run:
        for count, host in enumerate(("a", "b", "c"), start=1):
            run.notifier.tell(item(host))
            await run.receipt(count)
        run.notifier.tell(item("c"))  # remembered: ignored
        run.notifier.tell(item("a"))  # forgotten: sent again
        await http_server.wait_requests(4)
        remembered = (await run.store.load()).documents.get(DELIVERED, {})
        await run.receipt(4)
    assert keys_sent(http_server) == ["a/firing", "b/firing", "c/firing", "a/firing"]
    assert len(remembered) == 2  # the oldest, a (then b, once a came back), forgotten
    assert "ops/c/firing" in remembered
    await store.close()


def test_a_negative_memory_of_deliveries_is_refused() -> None:
    with pytest.raises(ValueError, match="remember_delivered"):
        Notifier("ops", webhook("http://127.0.0.1:9/")(), MemoryStore(), remember_delivered=-1)
