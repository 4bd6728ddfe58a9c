"""The Notifier remembers what it delivered: a notification told again is not sent twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from actors.notify import Notifier
from actors.notify._delivered_marks import DELIVERED, DELIVERED_BATCHES, batch_key
from actors.store import MemoryStore, SqliteStore, StateWrite, Store
from messages import Notification
from tests.notify.builders import T0
from tests.notify.http_server import WAIT, HttpServer
from tests.notify.notifier_harness import DELIVERED as DELIVERED_OUTCOME
from tests.notify.notifier_harness import item, keys_sent, running, webhook


class RememberTwo(Notifier):
    """A Notifier that remembers its last two deliveries only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, remember_delivered=2, **kwargs)


class RememberNone(Notifier):
    """A Notifier that remembers no delivery."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, remember_delivered=0, **kwargs)


class GatedChannel:
    """A channel named ``ops`` whose sends wait for ``gate``, then succeed together.

    ``waiting`` counts the sends held at the gate; ``sent`` has the ids, in the order
    the sends ended. Open from the start unless ``held``.
    """

    name = "ops"

    def __init__(self, *, held: bool = False) -> None:
        self.gate = asyncio.Event()
        if not held:
            self.gate.set()
        self.waiting = 0
        self.sent: list[str] = []
        self._arrived = asyncio.Event()

    async def until_waiting(self, count: int) -> None:
        async with asyncio.timeout(WAIT):
            while self.waiting < count:
                self._arrived.clear()
                await self._arrived.wait()

    async def open(self) -> None:
        pass

    async def send(self, batch: Sequence[Notification]) -> None:
        self.waiting += 1
        self._arrived.set()
        await self.gate.wait()
        self.waiting -= 1
        self.sent.extend(notification.id for notification in batch)

    async def close(self) -> None:
        pass


@pytest.fixture(params=["memory", "sqlite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@asynccontextmanager
async def opened(kind: str, path: Path) -> AsyncIterator[Store]:
    """Open a store of ``kind`` (``memory`` or ``sqlite``, the file at ``path``)."""
    store: Store = MemoryStore() if kind == "memory" else SqliteStore(path / "tocsin.db")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def key(host: str) -> str:
    return f"ops/{host}/firing"


async def batches(store: Store) -> dict[str, Any]:
    """Return the receiver's batch documents (the notifier stopped: all written)."""
    return dict((await store.load()).documents.get(DELIVERED_BATCHES, {}))


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
        await run.receipt(4)
    stored = [mark for batch in (await batches(store)).values() for mark in batch["keys"]]
    # The oldest, a (then b, once a came back), forgotten: b's batch is deleted unless
    # it also holds c.
    assert {key("c"), key("a")} <= set(stored) <= {key("b"), key("c"), key("a")}
    assert stored[-2:] == [key("c"), key("a")]
    async with running(webhook(http_server.url), store=store, notifier=RememberTwo) as run:
        for host in ("c", "a", "b"):  # after a restart: the same two remembered
            run.notifier.tell(item(host))
        assert (await run.receipt(1)).notification_id == "b/firing"
    assert keys_sent(http_server) == ["a/firing", "b/firing", "c/firing", "a/firing", "b/firing"]
    await store.close()


async def test_the_marks_of_one_burst_of_deliveries_are_one_batch_document(
    store_kind: str, tmp_path: Path
) -> None:
    channel = GatedChannel(held=True)
    async with opened(store_kind, tmp_path) as store:
        async with running(lambda: channel, store=store) as run:
            for host in ("a", "b", "c"):  # three alerts: sent concurrently
                run.notifier.tell(item(host))
            await channel.until_waiting(3)
            channel.gate.set()  # the three answers end together
            await run.receipt(3)
        assert await batches(store) == {
            batch_key("ops", 0): {"at": T0, "keys": [f"ops/{id_}" for id_ in channel.sent]}
        }
        assert sorted(channel.sent) == ["a/firing", "b/firing", "c/firing"]
        documents = (await store.load()).documents
        assert DELIVERED not in documents
        assert not documents.get("outbox")


async def test_keys_remembered_in_batches_and_in_older_per_key_documents_survive_a_restart(
    store_kind: str, tmp_path: Path
) -> None:
    async with opened(store_kind, tmp_path) as store:
        # What an earlier version left: one document per delivered key.
        await store.append(
            [],
            [
                StateWrite(DELIVERED, key("old1"), {"at": T0 - 20}),
                StateWrite(DELIVERED, key("old2"), {"at": T0 - 10}),
            ],
        )
        channel = GatedChannel()
        async with running(lambda: channel, store=store) as run:
            run.notifier.tell(item("a"))
            await run.receipt(1)
            run.notifier.tell(item("b"))
            await run.receipt(2)
        channel = GatedChannel()
        async with running(lambda: channel, store=store) as run:  # a new process
            for host in ("old1", "a", "old2", "b", "c"):
                run.notifier.tell(item(host))
            assert (await run.receipt(1)).notification_id == "c/firing"
            assert len(run.receipts.items) == 1
        assert channel.sent == ["c/firing"]
        documents = (await store.load()).documents
        assert list(documents[DELIVERED]) == [key("old1"), key("old2")]  # still remembered
        assert [batch["keys"] for batch in documents[DELIVERED_BATCHES].values()] == [
            [key("a")],
            [key("b")],
            [key("c")],
        ]


async def test_numbering_continues_after_a_restart_without_overwriting_a_batch(
    store_kind: str, tmp_path: Path
) -> None:
    async with opened(store_kind, tmp_path) as store:
        for count, host in enumerate(("a", "b"), start=1):
            async with running(lambda: GatedChannel(), store=store) as run:
                run.notifier.tell(item(host))
                await run.receipt(1)
            assert len(await batches(store)) == count
        assert await batches(store) == {
            batch_key("ops", 0): {"at": T0, "keys": [key("a")]},
            batch_key("ops", 1): {"at": T0, "keys": [key("b")]},
        }


async def test_a_batch_is_deleted_only_once_all_its_keys_aged_out(
    store_kind: str, tmp_path: Path
) -> None:
    async with opened(store_kind, tmp_path) as store:
        channel = GatedChannel(held=True)
        async with running(lambda: channel, store=store, notifier=RememberTwo) as run:
            for host in ("a", "b", "c"):
                run.notifier.tell(item(host))
            await channel.until_waiting(3)
            channel.gate.set()
            await run.receipt(3)
            run.notifier.tell(item("d"))
            await run.receipt(4)
        burst = [f"ops/{id_}" for id_ in channel.sent[:3]]
        # Remembered: the burst's last key and d; the burst's batch holds one of them.
        assert [batch["keys"] for batch in (await batches(store)).values()] == [burst, [key("d")]]
        async with running(lambda: GatedChannel(), store=store, notifier=RememberTwo) as run:
            run.notifier.tell(item("x"))
            await run.receipt(1)  # the burst's last key ages out: its batch goes
        assert await batches(store) == {
            batch_key("ops", 1): {"at": T0, "keys": [key("d")]},
            batch_key("ops", 2): {"at": T0, "keys": [key("x")]},
        }
        channel = GatedChannel()
        async with running(lambda: channel, store=store, notifier=RememberTwo) as run:
            for host in ("d", "x", burst[-1].split("/")[1]):
                run.notifier.tell(item(host))
            await run.receipt(1)
        assert channel.sent == [burst[-1].removeprefix("ops/")]  # d and x: remembered


async def test_a_malformed_batch_document_is_skipped_and_reported_and_the_notifier_starts(
    store_kind: str, tmp_path: Path
) -> None:
    async with opened(store_kind, tmp_path) as store:
        await store.append(
            [],
            [
                StateWrite(DELIVERED_BATCHES, batch_key("ops", 3), {"at": T0, "keys": [key("a")]}),
                StateWrite(DELIVERED_BATCHES, batch_key("ops", 5), {"at": T0, "keys": 7}),
            ],
        )
        channel = GatedChannel()
        with capture_logs() as logs:
            async with running(lambda: channel, store=store) as run:
                run.notifier.tell(item("a"))  # remembered in the readable batch: ignored
                run.notifier.tell(item("b"))
                assert (await run.receipt(1)).notification_id == "b/firing"
        assert channel.sent == ["b/firing"]
        [reported] = [log for log in logs if log["event"] == "unreadable delivered marks skipped"]
        assert reported["log_level"] == "error"
        assert reported["problem"].startswith(batch_key("ops", 5) + ": not a delivered batch")
        assert await batches(store) == {
            batch_key("ops", 3): {"at": T0, "keys": [key("a")]},
            batch_key("ops", 5): {"at": T0, "keys": 7},  # left for an operator, not overwritten
            batch_key("ops", 6): {"at": T0, "keys": [key("b")]},
        }


async def test_remembering_no_deliveries_writes_no_marks_and_drops_the_old_ones(
    store_kind: str, tmp_path: Path
) -> None:
    async with opened(store_kind, tmp_path) as store:
        await store.append(
            [],
            [
                StateWrite(DELIVERED, key("a"), {"at": T0}),
                StateWrite(DELIVERED_BATCHES, batch_key("ops", 0), {"at": T0, "keys": [key("b")]}),
            ],
        )
        channel = GatedChannel()
        async with running(lambda: channel, store=store, notifier=RememberNone) as run:
            for count, host in enumerate(("a", "b", "c", "c"), start=1):
                run.notifier.tell(item(host))
                await run.receipt(count)
        assert channel.sent == ["a/firing", "b/firing", "c/firing", "c/firing"]
        assert (await store.load()).documents == {}


def test_a_negative_memory_of_deliveries_is_refused() -> None:
    with pytest.raises(ValueError, match="remember_delivered"):
        Notifier("ops", webhook("http://127.0.0.1:9/")(), MemoryStore(), remember_delivered=-1)
