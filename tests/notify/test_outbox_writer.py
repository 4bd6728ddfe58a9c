"""OutboxWriter: its linger (writes nobody waits for share the next transaction), its marks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.notify._delivered_marks import (
    DELIVERED,
    DELIVERED_BATCHES,
    DeliveredMarks,
    load_delivered,
)
from actors.notify._outbox import OUTBOX, OutboxRecord
from actors.notify._outbox_writer import OutboxWriter
from actors.store import MemoryStore, StateWrite
from supervision import FakeClock
from tests.notify.builders import T0
from tests.notify.notifier_harness import item

LONG = 60.0  # far longer than any test runs: only a token or close can end the wait


async def started(
    store: MemoryStore, linger: float, remember: int = 10
) -> tuple[OutboxWriter, asyncio.Queue[Any]]:
    written: asyncio.Queue[Any] = asyncio.Queue()
    delivered, _ = load_delivered(await store.load(), "ops")
    writer = OutboxWriter(
        store,
        clock=FakeClock(epoch=T0),
        on_written=lambda tokens, durable: written.put_nowait((tokens, durable)),
        linger=linger,
        marks=DeliveredMarks("ops", remember, delivered),
    )
    writer.start()
    return writer, written


async def turns(count: int = 50) -> None:
    for _ in range(count):  # let the writer task run as far as it would
        await asyncio.sleep(0)


async def test_marks_wait_for_a_write_someone_waits_for_and_share_its_transaction() -> None:
    store = MemoryStore()
    await store.open()
    await store.append([], [StateWrite(DELIVERED, "ops/old/firing", {"at": T0 - 1})])
    writer, written = await started(store, LONG, remember=1)
    writer.delivered("ops/a/firing", T0)  # and forgets ops/old/firing
    await turns()
    assert (store.transactions, writer.appends) == (1, 0)  # lingering

    record = OutboxRecord("ops", item("b"), recorded_at=T0, order=0)
    writer.write(record, record.key, token="b")
    assert await asyncio.wait_for(written.get(), 5.0) == (["b"], True)

    assert (store.transactions, writer.appends) == (2, 1)  # the seed's, then the writer's
    documents = (await store.load()).documents
    assert list(documents[OUTBOX]) == ["ops/b/firing"]
    assert DELIVERED not in documents
    assert documents[DELIVERED_BATCHES] == {
        "ops/000000000000": {"at": T0, "keys": ["ops/a/firing"]}
    }
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

    assert (await store.load()).documents == {
        DELIVERED_BATCHES: {"ops/000000000000": {"at": T0, "keys": ["ops/a/firing"]}}
    }


async def test_the_marks_queued_between_two_appends_are_one_batch_document_each() -> None:
    store = MemoryStore()
    await store.open()
    writer, _ = await started(store, 0.0)
    for host in ("a", "b", "c"):  # one burst: queued before the writer runs
        record = OutboxRecord("ops", item(host), recorded_at=T0, order=0)
        await store.append([], [StateWrite(OUTBOX, record.key, record.document())])
        writer.delivered(record.key, T0 + 1)
    writer.delivered("ops/c/firing", T0 + 2)  # a second mark of one key keeps its order
    await turns()
    assert writer.appends == 1
    writer.delivered("ops/d/firing", T0 + 3)
    await writer.close()

    assert writer.appends == 2
    assert (await store.load()).documents == {
        DELIVERED_BATCHES: {
            "ops/000000000000": {
                "at": T0 + 2,
                "keys": ["ops/a/firing", "ops/b/firing", "ops/c/firing", "ops/c/firing"],
            },
            "ops/000000000001": {"at": T0 + 3, "keys": ["ops/d/firing"]},
        }
    }


async def test_marks_forgotten_on_loading_are_deleted_once_the_writer_starts() -> None:
    store = MemoryStore()
    await store.open()
    await store.append([], [StateWrite(DELIVERED, "ops/old/firing", {"at": T0})])
    writer, _ = await started(store, 0.0, remember=0)
    await turns()
    assert (await store.load()).documents == {}
    assert writer.appends == 1
    await writer.close()


def test_a_negative_linger_is_refused() -> None:
    with pytest.raises(ValueError, match="linger"):
        OutboxWriter(MemoryStore(), clock=FakeClock(epoch=T0), on_written=print, linger=-1.0)
