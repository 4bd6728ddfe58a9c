"""What every Store does, run against SqliteStore (a real file) and MemoryStore alike."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from actors.store import (
    EventQuery,
    MemoryStore,
    NewEvent,
    Snapshot,
    SqliteStore,
    StateWrite,
    Store,
    StoreClosed,
    StoredEvent,
    StoreError,
)
from tests.store.conftest import Opener


def event(n: int, kind: str = "fired", **fields: Any) -> NewEvent:
    return NewEvent(kind=kind, at=float(n), payload={"n": n}, **fields)


async def all_events(store: Store) -> list[StoredEvent]:
    return await store.query_events(EventQuery(limit=1_000_000))


async def test_a_new_store_is_empty(store: Store) -> None:
    assert await store.load() == Snapshot(last_seq=0, documents={})
    assert await all_events(store) == []


async def test_an_appended_event_reads_back_with_every_field(store: Store) -> None:
    payload = {"labels": {"service": "api"}, "value": 0.5, "nested": [1, {"a": None}]}
    new = NewEvent(
        kind="fired", at=12.5, payload=payload, alert_id="a1", fingerprint="f1", rule_id="r1"
    )

    assert await store.append([new]) == [1]

    assert await all_events(store) == [
        StoredEvent(
            seq=1,
            kind="fired",
            at=12.5,
            payload=payload,
            alert_id="a1",
            fingerprint="f1",
            rule_id="r1",
        )
    ]


async def test_seqs_start_at_one_and_an_appends_events_get_consecutive_seqs(store: Store) -> None:
    assert await store.append([event(1), event(2), event(3)]) == [1, 2, 3]
    assert await store.append([event(4)]) == [4]
    assert await store.append([]) == []
    assert await store.append([event(5), event(6)]) == [5, 6]
    assert (await store.load()).last_seq == 6


async def test_concurrent_appends_get_gap_free_seqs_in_the_order_they_were_called(
    store: Store,
) -> None:
    sizes = [n % 4 for n in range(1000)]  # 0 to 3 events per append

    results = await asyncio.gather(
        *(store.append([event(i) for i in range(size)]) for size in sizes)
    )

    assert [len(seqs) for seqs in results] == sizes
    flat = [seq for seqs in results for seq in seqs]
    assert flat == list(range(1, sum(sizes) + 1))
    assert [e.seq for e in await all_events(store)] == flat


async def test_events_and_document_writes_of_one_append_are_stored_together(store: Store) -> None:
    await store.append(
        [event(1, alert_id="a1")],
        [StateWrite("alerts", "a1", {"state": "active"}), StateWrite("silences", "s1", {"x": 1})],
    )

    snapshot = await store.load()
    assert snapshot.last_seq == 1
    assert snapshot.documents == {
        "alerts": {"a1": {"state": "active"}},
        "silences": {"s1": {"x": 1}},
    }


async def test_a_document_write_replaces_the_whole_document(store: Store) -> None:
    await store.append([], [StateWrite("alerts", "a1", {"state": "active", "value": 3})])
    await store.append([], [StateWrite("alerts", "a1", {"state": "acknowledged"})])

    assert (await store.load()).documents == {"alerts": {"a1": {"state": "acknowledged"}}}


async def test_a_delete_removes_the_document_and_an_empty_collection_disappears(
    store: Store,
) -> None:
    await store.append([], [StateWrite("alerts", "a1", {"v": 1}), StateWrite("alerts", "a2", {})])
    await store.append([], [StateWrite("alerts", "a1", None)])
    assert (await store.load()).documents == {"alerts": {"a2": {}}}

    await store.append([], [StateWrite("alerts", "a2", None), StateWrite("alerts", "nope", None)])
    assert (await store.load()).documents == {}


async def test_writes_apply_in_order_within_and_across_concurrent_appends(store: Store) -> None:
    def upsert(v: int) -> StateWrite:
        return StateWrite("c", "k", {"v": v})

    delete = StateWrite("c", "k", None)

    await asyncio.gather(
        store.append([], [upsert(1), delete, upsert(2)]),
        store.append([], [delete]),
        store.append([], [upsert(3), upsert(4)]),
        store.append([], [delete, upsert(5), delete, delete, upsert(6)]),
    )

    assert (await store.load()).documents == {"c": {"k": {"v": 6}}}


async def test_the_same_key_in_two_collections_is_two_documents(store: Store) -> None:
    await store.append([], [StateWrite("alerts", "x", {"a": 1}), StateWrite("outbox", "x", {})])
    await store.append([], [StateWrite("outbox", "x", None)])

    assert (await store.load()).documents == {"alerts": {"x": {"a": 1}}}


async def test_load_after_close_and_reopen_returns_exactly_what_was_written(
    opener: Opener,
) -> None:
    store = opener()
    await store.open()
    for n in range(1, 51):
        await store.append(
            [event(n, alert_id=f"a{n % 5}")],
            [StateWrite("alerts", f"a{n % 5}", {"last": n}), StateWrite("seen", str(n), {})],
        )
    await store.append([], [StateWrite("seen", "7", None)])
    before_snapshot, before_events = await store.load(), await all_events(store)
    await store.close()

    reopened = opener()
    await reopened.open()
    try:
        assert await reopened.load() == before_snapshot
        assert await all_events(reopened) == before_events
        assert await reopened.append([event(51)]) == [51]
    finally:
        await reopened.close()


async def test_stored_data_is_a_copy_that_the_caller_cannot_change(store: Store) -> None:
    payload: dict[str, Any] = {"labels": {"a": "1"}}
    document: dict[str, Any] = {"list": [1]}
    await store.append([NewEvent("fired", 1.0, payload)], [StateWrite("c", "k", document)])
    payload["labels"]["a"] = "changed"
    document["list"].append(2)

    (stored,) = await all_events(store)
    assert stored.payload == {"labels": {"a": "1"}}
    read = (await store.load()).documents["c"]["k"]
    assert read == {"list": [1]}
    read["list"].append(3)
    assert (await store.load()).documents["c"]["k"] == {"list": [1]}


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"value": math.nan}, ValueError),
        ({"value": math.inf}, ValueError),
        ({"when": object()}, TypeError),
        ({"tags": {"a", "b"}}, TypeError),
        ({("tuple", "key"): 1}, TypeError),
    ],
    ids=["nan", "infinity", "object", "set", "tuple-key"],
)
async def test_a_payload_that_is_not_json_is_refused_and_nothing_is_stored(
    store: Store, payload: dict[Any, Any], error: type[Exception]
) -> None:
    with pytest.raises(error, match="not JSON"):
        await store.append([event(1), NewEvent("fired", 2.0, payload)])
    with pytest.raises(error, match="not JSON"):
        await store.append([event(1)], [StateWrite("c", "k", payload)])

    assert await store.load() == Snapshot(last_seq=0, documents={})
    assert await store.append([event(1)]) == [1]


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (NewEvent("fired", math.nan, {}), ValueError),
        (NewEvent("fired", "1.0", {}), ValueError),  # type: ignore[arg-type]
        (NewEvent(None, 1.0, {}), TypeError),  # type: ignore[arg-type]
        (NewEvent("fired", 1.0, {}, alert_id=7), TypeError),  # type: ignore[arg-type]
        (NewEvent("\ud800", 1.0, {}), UnicodeEncodeError),
        (NewEvent("fired", 1.0, ["not", "a", "mapping"]), TypeError),  # type: ignore[arg-type]
    ],
    ids=["nan-at", "str-at", "no-kind", "int-alert-id", "lone-surrogate", "list-payload"],
)
async def test_a_malformed_event_is_refused_before_anything_is_stored(
    store: Store, bad: NewEvent, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await store.append([event(1), bad])

    assert await all_events(store) == []


async def test_a_payload_with_unicode_and_nested_mappings_round_trips(store: Store) -> None:
    from types import MappingProxyType

    payload = {"summary": "disque plein — 100 %", "labels": MappingProxyType({"é": "ü"})}
    await store.append([NewEvent("fired", 1.0, payload)])

    (stored,) = await all_events(store)
    assert stored.payload == {"summary": "disque plein — 100 %", "labels": {"é": "ü"}}


async def test_a_closed_store_refuses_every_call_with_store_closed(opener: Opener) -> None:
    store = opener()
    with pytest.raises(StoreClosed):
        await store.append([event(1)])
    await store.open()
    await store.close()
    await store.close()  # idempotent

    with pytest.raises(StoreClosed):
        await store.append([event(1)])
    with pytest.raises(StoreClosed):
        await store.load()
    with pytest.raises(StoreClosed):
        await store.query_events(EventQuery())
    assert await store.healthy() is False


async def test_opening_an_open_store_again_is_an_error(store: SqliteStore | MemoryStore) -> None:
    with pytest.raises(StoreError, match="already open"):
        await store.open()


async def test_an_open_store_is_healthy(store: Store) -> None:
    assert await store.healthy() is True
    assert await store.healthy() is True


async def test_close_commits_the_appends_issued_before_it_and_refuses_those_after(
    opener: Opener,
) -> None:
    store = opener()
    await store.open()

    results = await asyncio.gather(
        *(store.append([event(n)]) for n in range(100)),
        store.close(),
        store.append([event(100)]),
        return_exceptions=True,
    )

    assert results[:100] == [[n] for n in range(1, 101)]
    assert results[100] is None
    assert isinstance(results[101], StoreClosed)
    reopened = opener()
    async with reopened:
        assert (await reopened.load()).last_seq == 100


async def test_a_store_is_an_async_context_manager(opener: Opener) -> None:
    async with opener() as store:
        assert await store.append([event(1)]) == [1]
    assert await store.healthy() is False


@pytest.mark.parametrize("size", [1, 7, 8, 9, 63, 64, 65, 72, 137, 600])
async def test_an_append_of_any_size_stores_every_event_and_write_in_order(
    store: Store, size: int
) -> None:
    await store.append([event(0)])

    seqs = await store.append(
        [event(n, alert_id=f"a{n}") for n in range(1, size + 1)],
        [StateWrite("c", f"k{n % 5}", {"n": n}) for n in range(1, size + 1)],
    )

    assert seqs == list(range(2, size + 2))
    events = await all_events(store)
    assert [(e.seq, e.payload["n"], e.alert_id) for e in events[1:]] == [
        (n + 1, n, f"a{n}") for n in range(1, size + 1)
    ]
    last = {f"k{n % 5}": {"n": n} for n in range(1, size + 1)}
    assert (await store.load()).documents == {"c": last}


@pytest.mark.parametrize("deliveries", [1, 8, 9, 64, 65, 137])
async def test_interleaved_deletes_and_upserts_of_many_keys_leave_each_keys_last_write(
    store: Store, deliveries: int
) -> None:
    # A notifier's delivered marks: delete the outbox document, remember the key, forget
    # an older key; runs of deletes and upserts cut across chunk sizes and collections.
    await store.append(
        [],
        [StateWrite("outbox", f"n{i}", {"i": i}) for i in range(deliveries)]
        + [StateWrite("delivered", f"old{i}", {"at": 0}) for i in range(deliveries)]
        + [StateWrite("delivered", "kept", {"at": 0})],
    )
    writes: list[StateWrite] = []
    for i in range(deliveries):
        writes.append(StateWrite("outbox", f"n{i}", None))
        writes.append(StateWrite("delivered", f"n{i}", {"at": i}))
        writes.append(StateWrite("delivered", f"old{i}", None))
    # The same key deleted and written again within the append: its last write stands.
    writes += [StateWrite("outbox", "n0", {"again": True}), StateWrite("delivered", "n0", None)]

    await store.append([], writes)

    documents = (await store.load()).documents
    assert documents["outbox"] == {"n0": {"again": True}}
    expected = {f"n{i}": {"at": i} for i in range(1, deliveries)} | {"kept": {"at": 0}}
    assert documents["delivered"] == expected
