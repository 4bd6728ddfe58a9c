"""OutboxWriter's linger: writes nobody waits for share the next transaction."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.notify._outbox import DELIVERED, OUTBOX, OutboxRecord, OutboxWriter
from actors.store import MemoryStore
from supervision import FakeClock
from tests.notify.builders import T0
from tests.notify.notifier_harness import item

LONG = 60.0  # far longer than any test runs: only a token or close can end the wait


async def started(store: MemoryStore, linger: float) -> tuple[OutboxWriter, asyncio.Queue[Any]]:
    written: asyncio.Queue[Any] = asyncio.Queue()
    writer = OutboxWriter(
        store,
        clock=FakeClock(epoch=T0),
        on_written=lambda tokens, durable: written.put_nowait((tokens, durable)),
        linger=linger,
    )
    writer.start()
    return writer, written


async def turns(count: int = 50) -> None:
    for _ in range(count):  # let the writer task run as far as it would
        await asyncio.sleep(0)


async def test_marks_wait_for_a_write_someone_waits_for_and_share_its_transaction() -> None:
    store = MemoryStore()
    await store.open()
    writer, written = await started(store, LONG)
    writer.delivered("ops/a/firing", T0)
    writer.forget_delivered("ops/old/firing")
    await turns()
    assert (store.transactions, writer.appends) == (0, 0)  # lingering

    record = OutboxRecord("ops", item("b"), recorded_at=T0, order=0)
    writer.write(record, record.key, token="b")
    assert await asyncio.wait_for(written.get(), 5.0) == (["b"], True)

    assert (store.transactions, writer.appends) == (1, 1)
    documents = (await store.load()).documents
    assert list(documents[OUTBOX]) == ["ops/b/firing"]
    assert documents[DELIVERED] == {"ops/a/firing": {"at": T0}}
    await writer.close()


async def test_without_a_linger_marks_are_appended_as_they_come() -> None:
    store = MemoryStore()
    await store.open()
    writer, _ = await started(store, 0.0)
    writer.delivered("ops/a/firing", T0)
    await turns()
    assert writer.appends == 1
    await writer.close()


async def test_close_ends_a_linger_and_persists_what_waited() -> None:
    store = MemoryStore()
    await store.open()
    writer, _ = await started(store, LONG)
    writer.delivered("ops/a/firing", T0)
    await turns()

    await asyncio.wait_for(writer.close(), 5.0)

    assert (await store.load()).documents == {DELIVERED: {"ops/a/firing": {"at": T0}}}


def test_a_negative_linger_is_refused() -> None:
    with pytest.raises(ValueError, match="linger"):
        OutboxWriter(MemoryStore(), clock=FakeClock(epoch=T0), on_written=print, linger=-1.0)
