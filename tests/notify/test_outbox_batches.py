"""Outbox batches: a burst's new records in one document, settled by their marks.

The model-based test drives an ``OutboxWriter`` with batches over a real ``MemoryStore``
through random records, deliveries, rewrites, dead letters and restarts, with a marks
window small enough to age out: after every append, what a restarted notifier would
load is exactly what is undelivered.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from actors.notify._delivered_marks import (
    DELIVERED_BATCHES,
    DeliveredMarks,
    batch_key,
    load_delivered,
)
from actors.notify._outbox import (
    OUTBOX,
    OutboxRecord,
    load_batched_records,
    load_outbox,
    rewrite_of,
)
from actors.notify._outbox_batches import OUTBOX_BATCHES, OutboxBatches, load_outbox_batches
from actors.notify._outbox_writer import OutboxWriter
from actors.store import MemoryStore, Snapshot, StateWrite, Store, encode_payload
from supervision import FakeClock
from tests.alerting.harness import FlakyStore
from tests.notify.builders import T0
from tests.notify.notifier_harness import item, stored_outbox


def record(host: str, order: int = 0) -> OutboxRecord:
    return OutboxRecord("ops", item(host), recorded_at=T0, order=order)


def entry(host: str, order: int = 0) -> StateWrite:
    new = record(host, order)
    return rewrite_of(new.document(), new.key)


# -- OutboxBatches, without I/O ---------------------------------------------------------


def test_a_batch_document_is_the_entries_json_and_reads_back_as_written() -> None:
    batches = OutboxBatches("ops", next_batch=7)
    entries = [entry("a", 0), entry("b", 1)]
    number, write = batches.batch(entries, marks_from=3)
    assert (number, write.collection, write.key) == (7, OUTBOX_BATCHES, batch_key("ops", 7))
    assert write.value == {"marks_from": 3, "records": [e.value for e in entries]}
    assert write.value_json == encode_payload(write.value)  # joined, not re-encoded
    assert "ops/a/firing" in batches
    assert "ops/b/firing" in batches


def test_the_last_entry_settled_deletes_the_batch() -> None:
    batches = OutboxBatches("ops")
    number, _ = batches.batch([entry("a"), entry("b")], marks_from=0)
    assert batches.settle("ops/a/firing")
    assert not batches.due
    assert not batches.settle("ops/a/firing")  # settled once
    assert not batches.settle("ops/unknown/firing")
    assert batches.settle("ops/b/firing")
    assert batches.take(0) == [StateWrite(OUTBOX_BATCHES, batch_key("ops", number), None)]


def test_a_batch_whose_marks_would_go_is_compacted_into_documents_of_their_own() -> None:
    batches = OutboxBatches("ops")
    old, _ = batches.batch([entry("a"), entry("b")], marks_from=2)
    new, _ = batches.batch([entry("c")], marks_from=5)
    batches.settle("ops/a/firing")  # delivered: marked in marks batch 2 or later
    assert batches.take(marks_kept_from=2) == []  # batch 2 of the marks stays: nothing to do
    writes = batches.take(marks_kept_from=3)  # marks batch 2 goes in this append
    assert writes == [entry("b"), StateWrite(OUTBOX_BATCHES, batch_key("ops", old), None)]
    assert "ops/b/firing" in batches.individual
    assert "ops/b/firing" not in batches
    assert "ops/c/firing" in batches  # its marks are all kept
    assert new == old + 1


def test_a_batch_whose_append_failed_is_forgotten() -> None:
    batches = OutboxBatches("ops")
    number, _ = batches.batch([entry("a")], marks_from=0)
    batches.lost(number)
    assert not batches.settle("ops/a/firing")
    assert not batches.due
    assert batches.take(10) == []


def test_loading_skips_delivered_and_superseded_entries_and_reports_unreadable_batches() -> None:
    first = {"marks_from": 4, "records": [entry(h).value for h in ("a", "b", "c", "d")]}
    documents: dict[str, dict[str, Any]] = {
        OUTBOX_BATCHES: {
            batch_key("ops", 1): first,
            batch_key("ops", 5): {"marks_from": 4, "records": "no"},
            "ops/not-a-number": {"marks_from": 0, "records": []},
            batch_key("other", 9): {"marks_from": 0, "records": [entry("x").value]},
        }
    }
    marks = {"ops/a/firing": 4, "ops/b/firing": 3}  # a: delivered after; b: before (again)
    superseding: dict[str, object] = {"ops/c/firing": {}}  # rewritten on its own (a retry)
    found, problems = load_outbox_batches(Snapshot(0, documents), "ops", marks, superseding)
    assert [(n, r["notification"]["id"]) for n, r in found.records] == [
        (1, "b/firing"),
        (1, "d/firing"),
    ]
    assert (found.numbers, found.next_batch) == ([1], 6)
    assert sorted(problems) == [
        "ops/000000000005: not an outbox batch (marks_from and records)",
        "ops/not-a-number: not an outbox batch's key (<receiver>/<12 digits>)",
    ]


def test_a_restart_compacts_what_it_found_and_records_keep_their_order() -> None:
    documents: dict[str, dict[str, Any]] = {
        OUTBOX: {"ops/z/firing": record("z", order=1).document()},
        OUTBOX_BATCHES: {
            batch_key("ops", 0): {"marks_from": 0, "records": [entry("a", 0).value]},
            batch_key("ops", 1): {"marks_from": 0, "records": [entry("b", 2).value]},
        },
    }
    snapshot = Snapshot(0, documents)
    records, _ = load_outbox(snapshot, "ops")
    batches, problems = load_batched_records(snapshot, "ops", {}, records)
    assert problems == []
    assert [r.key for r in records] == ["ops/a/firing", "ops/z/firing", "ops/b/firing"]
    writes = batches.take(0)
    assert writes == [
        entry("a", 0),
        entry("b", 2),
        StateWrite(OUTBOX_BATCHES, batch_key("ops", 0), None),
        StateWrite(OUTBOX_BATCHES, batch_key("ops", 1), None),
    ]
    assert batches.individual == {"ops/a/firing", "ops/b/firing", "ops/z/firing"}
    assert batches.batch([entry("c")], 0)[0] == 2  # numbers go on after the ones found


def test_a_batch_with_an_unreadable_entry_is_left_and_its_readable_entries_are_kept() -> None:
    broken = entry("b").value
    assert broken is not None
    broken = {**broken, "order": "not a number"}
    documents: dict[str, dict[str, Any]] = {
        OUTBOX_BATCHES: {
            batch_key("ops", 0): {"marks_from": 0, "records": [entry("a").value, broken]},
            batch_key("ops", 1): {"marks_from": 0, "records": [entry("c", 1).value]},
        }
    }
    records: list[OutboxRecord] = []
    batches, problems = load_batched_records(Snapshot(0, documents), "ops", {}, records)
    assert [r.key for r in records] == ["ops/a/firing", "ops/c/firing"]
    assert len(problems) == 1
    assert problems[0].startswith("ops/000000000000: an entry: invalid literal for int()")
    assert batches.take(0) == [
        entry("a"),
        entry("c", 1),
        StateWrite(OUTBOX_BATCHES, batch_key("ops", 1), None),  # batch 0 stays, for an operator
    ]


# -- the writer over a store ---------------------------------------------------------


class Outbox:
    """An OutboxWriter with marks and batches over ``store``, as a notifier starts one."""

    def __init__(self, store: Store, remember: int) -> None:
        self.store = store
        self.remember = remember
        self.durable: set[str] = set()
        self.writer: OutboxWriter | None = None

    async def start(self) -> list[OutboxRecord]:
        snapshot = await self.store.load()
        delivered, problems = load_delivered(snapshot, "ops")
        assert problems == []
        records, problems = load_outbox(snapshot, "ops")
        batches, more = load_batched_records(
            snapshot, "ops", delivered.keys, records, gather=self.remember > 0
        )
        assert problems + more == []
        self.writer = OutboxWriter(
            self.store,
            clock=FakeClock(epoch=T0),
            on_written=self._written,
            marks=DeliveredMarks("ops", self.remember, delivered),
            batches=batches,
        )
        await self.writer.compact_found()
        self.writer.start()
        self.durable = {r.key for r in records}
        return records

    def _written(self, tokens: list[Any], durable: bool) -> None:
        assert durable
        self.durable.update(tokens)

    async def stop(self) -> None:
        assert self.writer is not None
        await self.writer.close()


async def started(remember: int) -> tuple[MemoryStore, Outbox, OutboxWriter]:
    """Return a store, and an ``Outbox`` started on it with its writer."""
    store = MemoryStore()
    await store.open()
    outbox = Outbox(store, remember)
    await outbox.start()
    assert outbox.writer is not None
    return store, outbox, outbox.writer


async def test_a_burst_is_one_document_and_its_deliveries_delete_nothing_of_their_own() -> None:
    store, outbox, writer = await started(10)
    for order, host in enumerate("abc"):
        new = record(host, order)
        writer.write(new, new.key, token=new.key)
    await writer.idle()
    documents = (await store.load()).documents
    assert OUTBOX not in documents
    [batch] = documents[OUTBOX_BATCHES].values()
    assert [r["notification"]["id"] for r in batch["records"]] == [
        "a/firing",
        "b/firing",
        "c/firing",
    ]
    transactions = store.transactions
    writer.delivered("ops/a/firing", T0)
    writer.delivered("ops/b/firing", T0)
    await writer.idle()
    documents = (await store.load()).documents
    assert list(documents[OUTBOX_BATCHES]) == [batch_key("ops", 0)]  # c is not delivered
    assert documents[DELIVERED_BATCHES][batch_key("ops", 0)]["keys"] == [
        "ops/a/firing",
        "ops/b/firing",
    ]
    writer.delivered("ops/c/firing", T0)
    await writer.idle()
    documents = (await store.load()).documents
    assert OUTBOX_BATCHES not in documents
    assert store.transactions == transactions + 2
    await outbox.stop()


async def test_a_batch_whose_append_failed_leaves_nothing_to_settle() -> None:
    store = FlakyStore(MemoryStore())
    await store.open()
    written: list[tuple[list[Any], bool]] = []
    writer = OutboxWriter(
        store,
        clock=FakeClock(epoch=T0),
        on_written=lambda tokens, durable: written.append((tokens, durable)),
        retry_for=0.0,  # one refusal and the append is given up
        marks=DeliveredMarks("ops", 10),
        batches=OutboxBatches("ops"),
    )
    writer.start()
    store.failures = 1
    writer.write(record("a"), "ops/a/firing", token="a")
    await writer.idle()
    assert written == [(["a"], False)]  # the notifier delivers it anyway
    writer.delivered("ops/a/firing", T0)
    writer.write(record("b", 1), "ops/b/firing", token="b")
    await writer.idle()
    documents = (await store.load()).documents
    assert [
        r["notification"]["id"] for r in documents[OUTBOX_BATCHES][batch_key("ops", 1)]["records"]
    ] == ["b/firing"]
    assert batch_key("ops", 0) not in documents[OUTBOX_BATCHES]
    assert documents[DELIVERED_BATCHES][batch_key("ops", 0)]["keys"] == ["ops/a/firing"]
    await writer.close()


async def test_a_record_delivered_before_a_refused_compaction_is_retried_stays_delivered() -> None:
    store = FlakyStore(MemoryStore())
    await store.open()
    documents = {"marks_from": 0, "records": [entry("a").value]}
    await store.append([], [StateWrite(OUTBOX_BATCHES, batch_key("ops", 0), documents)])
    outbox = Outbox(store, remember=10)
    store.failures = 1  # the compaction at start
    assert [r.key for r in await outbox.start()] == ["ops/a/firing"]
    writer = outbox.writer
    assert writer is not None
    writer.delivered("ops/a/firing", T0)  # sent meanwhile: it was in the store all along
    await writer.idle()
    assert await stored_outbox(store, "ops") == {}
    await outbox.stop()
    assert await outbox.start() == []
    await outbox.stop()


async def test_without_marks_to_tell_deliveries_every_record_is_its_own_document() -> None:
    store, outbox, writer = await started(0)
    new = record("a")
    writer.write(new, new.key, token=new.key)
    await writer.idle()
    documents = (await store.load()).documents
    assert (list(documents[OUTBOX]), OUTBOX_BATCHES in documents) == (["ops/a/firing"], False)
    await outbox.stop()


async def test_a_key_recorded_again_after_its_delivery_is_loaded_as_undelivered() -> None:
    # Its earlier delivery's mark is still stored: only a mark made after the batch
    # was written says an entry was delivered.
    _, outbox, writer = await started(10)
    writer.write(record("a"), "ops/a/firing", token="ops/a/firing")
    await writer.idle()
    writer.delivered("ops/a/firing", T0)
    await writer.idle()
    writer.write(record("a", 1), "ops/a/firing", token="ops/a/firing")
    await outbox.stop()
    assert [r.key for r in await outbox.start()] == ["ops/a/firing"]
    await outbox.stop()


async def test_a_batch_is_compacted_before_the_marks_of_its_deliveries_go() -> None:
    store, outbox, writer = await started(1)
    for order, host in enumerate("ab"):
        writer.write(record(host, order), f"ops/{host}/firing", token=host)
    await writer.idle()
    writer.delivered("ops/a/firing", T0)  # b waits (behind an earlier one of its alert)
    await writer.idle()
    writer.write(record("c", 2), "ops/c/firing", token="c")
    await writer.idle()
    writer.delivered("ops/c/firing", T0)  # a's mark goes: the window holds one
    await writer.idle()
    documents = (await store.load()).documents
    assert list(documents[OUTBOX]) == ["ops/b/firing"]  # on its own now
    assert OUTBOX_BATCHES not in documents
    await outbox.stop()
    assert [r.key for r in await outbox.start()] == ["ops/b/firing"]
    await outbox.stop()


# One step: what the notifier would do: record host ``n`` (of 4: keys come back often),
# or deliver, retry or dead-letter the ``n``-th durable undelivered record; or an
# append, or a restart.
Step = tuple[str, int]
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["new", "new", "deliver", "deliver", "retry", "dead", "flush", "restart"]),
        st.integers(0, 3),
    ),
    min_size=10,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(steps=STEPS, remember=st.integers(0, 3))
@example(  # a batch whose delivered entry's mark ages out while another entry waits
    steps=[
        *[("new", 0), ("new", 1), ("flush", 0), ("deliver", 0), ("flush", 0)],
        *[("new", 2), ("flush", 0), ("deliver", 1), ("flush", 0), ("restart", 0)],
    ],
    remember=1,
)
def test_what_a_restart_loads_is_exactly_what_was_not_delivered(
    steps: list[Step], remember: int
) -> None:
    asyncio.run(_run(steps, remember))


async def _run(steps: list[Step], remember: int) -> None:
    store = MemoryStore()
    await store.open()
    outbox = Outbox(store, remember)
    await outbox.start()
    undelivered: dict[str, OutboxRecord] = {}
    dead: set[str] = set()
    order = 0
    for action, n in steps:
        writer = outbox.writer
        assert writer is not None
        key = f"ops/h{n}/firing"
        if action in ("deliver", "retry", "dead"):
            sendable = sorted(outbox.durable & set(undelivered))
            key = sendable[n % len(sendable)] if sendable else ""
        if action == "new" and key not in undelivered:
            # The notifier takes a notification again once its key is not remembered
            # (here: any not queued); one that is a dead letter replaces it.
            dead.discard(key)
            outbox.durable.discard(key)  # sent only once this record is durable
            undelivered[key] = new = record(f"h{n}", order)
            order += 1
            writer.write(new, key, token=key)
        elif action in ("deliver", "retry", "dead") and key:
            if action == "deliver":
                del undelivered[key]
                writer.delivered(key, T0)
            elif action == "retry":
                undelivered[key] = again = dataclasses.replace(
                    undelivered[key], attempts=undelivered[key].attempts + 1
                )
                writer.write(again, key)
            else:
                gone = dataclasses.replace(undelivered.pop(key), dead_at=T0)
                dead.add(key)
                writer.write(gone, key)
        elif action == "flush":
            await writer.idle()
            await check(store, undelivered, dead)
        elif action == "restart":
            await outbox.stop()
            await check(store, undelivered, dead)
            records = await outbox.start()
            assert {r.key for r in records} == set(undelivered) | dead
    assert outbox.writer is not None
    await outbox.writer.idle()
    await check(store, undelivered, dead)
    await outbox.stop()
    await check(store, undelivered, dead)


async def check(store: MemoryStore, undelivered: dict[str, OutboxRecord], dead: set[str]) -> None:
    """What a starting notifier would load is what is undelivered, and the dead letters."""
    snapshot = await store.load()
    delivered, _ = load_delivered(snapshot, "ops")
    records, problems = load_outbox(snapshot, "ops")
    _, more = load_batched_records(snapshot, "ops", delivered.keys, records)
    assert problems + more == []
    loaded = {r.key: r for r in records}
    assert set(loaded) == set(undelivered) | dead
    for key, expected in undelivered.items():
        assert (loaded[key].attempts, loaded[key].dead) == (expected.attempts, False)
    assert all(loaded[key].dead for key in dead)
