"""DeliveredMarks and load_delivered: which marks are kept, in which documents, read back."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.notify._delivered_marks import (
    DELIVERED,
    DELIVERED_BATCHES,
    LEGACY,
    DeliveredMarks,
    batch_key,
    load_delivered,
)
from actors.store import Snapshot, StateWrite
from tests.notify.builders import T0

Documents = dict[str, dict[str, dict[str, Any]]]


def apply(documents: Documents, writes: list[StateWrite]) -> None:
    """Apply ``writes`` to ``documents`` as a store's append does."""
    for write in writes:
        collection = documents.setdefault(write.collection, {})
        if write.value is None:
            collection.pop(write.key, None)
        else:
            collection[write.key] = copy.deepcopy(dict(write.value))


def loaded(documents: Documents, remember: int) -> DeliveredMarks:
    found, problems = load_delivered(Snapshot(0, copy.deepcopy(documents)), "ops")
    assert problems == []
    return DeliveredMarks("ops", remember, found)


def key(name: str) -> str:
    return f"ops/{name}/firing"


def deliver(marks: DeliveredMarks, *names: str, at: float = T0) -> list[StateWrite]:
    for name in names:
        marks.remember(key(name), at)
    return marks.take()


def batches(documents: Documents) -> dict[str, list[str]]:
    return {name: doc["keys"] for name, doc in documents.get(DELIVERED_BATCHES, {}).items()}


def test_the_marks_taken_together_are_one_batch_document_numbered_in_order() -> None:
    marks = DeliveredMarks("ops", 10)
    assert (marks.due, marks.take()) == (False, [])
    marks.remember(key("a"), T0)
    marks.remember(key("b"), T0 + 1)
    assert marks.due
    [write] = marks.take()
    assert write == StateWrite(
        DELIVERED_BATCHES,
        "ops/000000000000",
        {"at": T0 + 1, "keys": [key("a"), key("b")]},
        f'{{"at":{T0 + 1!r},"keys":["ops/a/firing","ops/b/firing"]}}',
    )
    assert (marks.due, marks.take()) == (False, [])
    [write] = deliver(marks, "c")
    assert write.key == batch_key("ops", 1) == "ops/000000000001"
    assert dict(marks.remembered) == {key("a"): 0, key("b"): 0, key("c"): 1}


def test_a_batch_is_deleted_only_once_every_key_it_holds_aged_out() -> None:
    marks = DeliveredMarks("ops", 3)
    deliver(marks, "a", "b", "c")  # batch 0
    # a and b age out, c (batch 0) is still remembered: batch 0 stays.
    assert [write.key for write in deliver(marks, "d", "e")] == [batch_key("ops", 1)]
    assert list(marks.remembered) == [key("c"), key("d"), key("e")]
    # c ages out: batch 0 goes, in a later append than the one that wrote it.
    writes = deliver(marks, "f")
    assert [(write.key, write.value is None) for write in writes] == [
        (batch_key("ops", 0), True),
        (batch_key("ops", 2), False),
    ]
    assert list(marks.remembered) == [key("d"), key("e"), key("f")]


def test_a_burst_longer_than_the_window_keeps_its_last_keys() -> None:
    marks = DeliveredMarks("ops", 2)
    [write] = deliver(marks, "a", "b", "c")
    assert write.value is not None
    assert write.value["keys"] == [key("a"), key("b"), key("c")]  # a is in, but forgotten
    assert list(marks.remembered) == [key("b"), key("c")]


def test_remembering_nothing_writes_no_mark() -> None:
    marks = DeliveredMarks("ops", 0)
    assert deliver(marks, "a", "b") == []
    assert not marks.due
    assert marks.remembered == {}


def test_remembering_nothing_deletes_every_mark_loaded() -> None:
    documents: Documents = {
        DELIVERED: {key("a"): {"at": T0}},
        DELIVERED_BATCHES: {batch_key("ops", 4): {"at": T0, "keys": [key("b")]}},
    }
    marks = loaded(documents, 0)
    apply(documents, marks.take())
    assert documents == {DELIVERED: {}, DELIVERED_BATCHES: {}}
    assert marks.remembered == {}


def test_loading_puts_per_key_documents_first_then_batches_in_number_order() -> None:
    documents: Documents = {
        DELIVERED: {key("old2"): {"at": T0 - 1}, key("old1"): {"at": T0 - 2}},
        DELIVERED_BATCHES: {
            batch_key("ops", 11): {"at": T0 + 2, "keys": [key("c")]},
            batch_key("ops", 9): {"at": T0 + 1, "keys": [key("a"), key("b")]},
            batch_key("dev", 40): {"at": T0, "keys": ["dev/x/firing"]},
        },
    }
    found, problems = load_delivered(Snapshot(0, documents), "ops")
    assert problems == []
    assert list(found.keys.items()) == [
        (key("old1"), LEGACY),
        (key("old2"), LEGACY),
        (key("a"), 9),
        (key("b"), 9),
        (key("c"), 11),
    ]
    assert (found.batches, found.next_batch, found.superseded) == ([9, 11], 12, [])


def test_per_key_documents_age_out_one_by_one_before_any_batch() -> None:
    documents: Documents = {
        DELIVERED: {key("old1"): {"at": T0 - 2}, key("old2"): {"at": T0 - 1}},
        DELIVERED_BATCHES: {batch_key("ops", 0): {"at": T0, "keys": [key("a")]}},
    }
    marks = loaded(documents, 3)
    assert not marks.due
    writes = deliver(marks, "b")
    assert [(write.collection, write.key, write.value) for write in writes[:1]] == [
        (DELIVERED, key("old1"), None)
    ]
    apply(documents, writes)
    apply(documents, deliver(marks, "c"))
    assert documents[DELIVERED] == {}
    assert batches(documents) == {
        batch_key("ops", 0): [key("a")],
        batch_key("ops", 1): [key("b")],
        batch_key("ops", 2): [key("c")],
    }


def test_a_key_in_a_per_key_document_and_in_a_batch_keeps_the_batch_only() -> None:
    documents: Documents = {
        DELIVERED: {key("a"): {"at": T0}},
        DELIVERED_BATCHES: {batch_key("ops", 0): {"at": T0, "keys": [key("a")]}},
    }
    marks = loaded(documents, 5)
    assert dict(marks.remembered) == {key("a"): 0}
    apply(documents, marks.take())
    assert documents[DELIVERED] == {}


def test_an_unreadable_batch_is_skipped_reported_left_and_its_number_used_up() -> None:
    documents: Documents = {
        DELIVERED_BATCHES: {
            batch_key("ops", 0): {"at": T0, "keys": [key("a")]},
            batch_key("ops", 1): {"at": T0, "keys": "ops/b/firing"},
            batch_key("ops", 2): {"keys": [key("c")]},
            batch_key("ops", 3): {"at": T0, "keys": ["dev/d/firing"]},
            batch_key("ops", 4): {"at": True, "keys": []},
            "ops/7": {"at": T0, "keys": [key("e")]},
        }
    }
    found, problems = load_delivered(Snapshot(0, documents), "ops")
    assert sorted(problem.split(":")[0] for problem in problems) == [
        batch_key("ops", 1),
        batch_key("ops", 2),
        batch_key("ops", 3),
        batch_key("ops", 4),
        "ops/7",
    ]
    assert list(found.keys) == [key("a")]
    assert (found.batches, found.next_batch) == ([0], 5)
    marks = DeliveredMarks("ops", 0, found)  # forgets everything readable...
    apply(documents, marks.take())
    assert list(documents[DELIVERED_BATCHES]) == [  # ...and leaves the rest for an operator
        batch_key("ops", 1),
        batch_key("ops", 2),
        batch_key("ops", 3),
        batch_key("ops", 4),
        "ops/7",
    ]


def test_a_negative_memory_of_deliveries_is_refused() -> None:
    with pytest.raises(ValueError, match="remember_delivered"):
        DeliveredMarks("ops", -1)


@settings(max_examples=300, deadline=None)
@given(
    remember=st.integers(0, 6),
    legacy=st.integers(0, 4),
    steps=st.lists(
        st.one_of(st.none(), st.lists(st.integers(0, 15), max_size=6)), min_size=1, max_size=25
    ),
)
def test_the_last_deliveries_are_remembered_across_restarts_in_bounded_documents(
    remember: int, legacy: int, steps: list[list[int] | None]
) -> None:
    # As a notifier: a burst delivers what is not remembered (a remembered key is
    # ignored), one append takes the marks; None is a restart from the documents.
    documents: Documents = {
        DELIVERED: {key(f"L{n}"): {"at": T0 + n} for n in range(legacy)},
        DELIVERED_BATCHES: {batch_key("dev", 0): {"at": T0, "keys": ["dev/x/firing"]}},
    }
    expected = [key(f"L{n}") for n in range(legacy)]
    written: set[str] = set()
    marks = loaded(documents, remember)
    apply(documents, marks.take())
    for step in steps:
        if step is None:
            marks = loaded(documents, remember)
            apply(documents, marks.take())
        else:
            for n in step:
                if key(str(n)) not in marks.remembered:
                    marks.remember(key(str(n)), T0 + 100)
                    expected.append(key(str(n)))
            writes = marks.take()
            new = {w.key for w in writes if w.collection == DELIVERED_BATCHES and w.value}
            assert not new & written  # a batch number is never reused
            written |= new
            apply(documents, writes)
        remembered = expected[-remember:] if remember else []
        assert list(marks.remembered) == remembered
        stored = list(documents[DELIVERED]) + [
            mark for keys in batches(documents).values() for mark in keys
        ]
        assert set(remembered) <= set(stored)
        largest = max((len(step) for step in steps if step is not None), default=0)
        assert len(stored) <= 1 + remember + max(largest - 1, 0)  # 1: dev's
        assert documents[DELIVERED_BATCHES][batch_key("dev", 0)]["keys"] == ["dev/x/firing"]
