"""EventQuery filters, each alone and together, against both stores."""

from __future__ import annotations

from typing import Any

import pytest

from actors.store import EventQuery, NewEvent, Store

EVENTS = [
    # (kind, at, rule_id, alert_id, fingerprint, labels)
    ("fired", 10.0, "cpu", "a1", "f1", {"service": "api", "severity": "page"}),
    ("acknowledged", 20.0, "cpu", "a1", "f1", {"service": "api", "severity": "page"}),
    ("fired", 30.0, "disk", "a2", "f2", {"service": "db", "severity": "ticket"}),
    ("resolved", 40.0, "cpu", "a1", "f1", {"service": "api", "severity": "page"}),
    ("fired", 50.0, "cpu", "a3", "f1", {"service": "api", "severity": "page"}),
    ("fired", 60.0, "mem", "a4", "f4", {"service": "db", 'odd name.with "quotes"': "yes"}),
    ("silenced", 70.0, None, None, None, {}),
]
"""seq n is EVENTS[n - 1]"""


@pytest.fixture
async def history(store: Store) -> Store:
    await store.append(
        [
            NewEvent(
                kind=kind,
                at=at,
                payload={"labels": labels},
                alert_id=alert_id,
                fingerprint=fingerprint,
                rule_id=rule_id,
            )
            for kind, at, rule_id, alert_id, fingerprint, labels in EVENTS
        ]
    )
    # Payloads whose "labels" is not an object never match a label filter.
    await store.append(
        [
            NewEvent("odd", 80.0, {"labels": ["service", "api"]}),
            NewEvent("odd", 81.0, {"labels": "service=api"}),
            NewEvent("odd", 82.0, {"labels": {"service": 1}}),
            NewEvent("odd", 83.0, {"no_labels": True}),
        ]
    )
    return store


async def seqs(store: Store, **filters: Any) -> list[int]:
    return [event.seq for event in await store.query_events(EventQuery(**filters))]


async def test_no_filter_returns_every_event_in_seq_order(history: Store) -> None:
    assert await seqs(history) == list(range(1, 12))


async def test_since_seq_returns_only_later_events(history: Store) -> None:
    assert await seqs(history, since_seq=5) == [6, 7, 8, 9, 10, 11]
    assert await seqs(history, since_seq=11) == []
    assert await seqs(history, since_seq=100) == []


async def test_start_is_inclusive_and_end_is_exclusive(history: Store) -> None:
    assert await seqs(history, start=20.0, end=50.0) == [2, 3, 4]
    assert await seqs(history, start=75.0) == [8, 9, 10, 11]
    assert await seqs(history, end=10.0) == []


async def test_kinds_select_any_of_the_given_kinds(history: Store) -> None:
    assert await seqs(history, kinds=("acknowledged", "resolved")) == [2, 4]
    assert await seqs(history, kinds=("nothing",)) == []


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("rule_id", "cpu", [1, 2, 4, 5]),
        ("rule_id", "mem", [6]),
        ("alert_id", "a1", [1, 2, 4]),
        ("fingerprint", "f1", [1, 2, 4, 5]),
        ("fingerprint", "missing", []),
    ],
)
async def test_rule_alert_and_fingerprint_select_exact_matches(
    history: Store, field: str, value: str, expected: list[int]
) -> None:
    assert await seqs(history, **{field: value}) == expected


async def test_labels_select_events_whose_payload_labels_have_every_given_value(
    history: Store,
) -> None:
    assert await seqs(history, labels={"service": "api"}) == [1, 2, 4, 5]
    assert await seqs(history, labels={"service": "db", "severity": "ticket"}) == [3]
    assert await seqs(history, labels={"service": "db", "severity": "page"}) == []
    assert await seqs(history, labels={"severity": "page"}) == [1, 2, 4, 5]


async def test_a_label_name_with_dots_and_quotes_is_matched_literally(history: Store) -> None:
    assert await seqs(history, labels={'odd name.with "quotes"': "yes"}) == [6]
    assert await seqs(history, labels={"odd name": "yes"}) == []


async def test_a_label_matches_only_a_string_value(history: Store) -> None:
    assert await seqs(history, labels={"service": "1"}) == []


async def test_filters_combine_with_and(history: Store) -> None:
    assert await seqs(
        history, rule_id="cpu", kinds=("fired",), start=20.0, labels={"service": "api"}
    ) == [5]
    assert await seqs(history, alert_id="a1", since_seq=2, end=45.0) == [4]


async def test_limit_caps_the_result_and_since_seq_pages_through_it(history: Store) -> None:
    assert await seqs(history, limit=3) == [1, 2, 3]
    assert await seqs(history, limit=0) == []
    pages, after = [], 0
    while page := await seqs(history, rule_id="cpu", since_seq=after, limit=3):
        pages.append(page)
        after = page[-1]
    assert pages == [[1, 2, 4], [5]]


async def test_a_negative_limit_or_since_seq_is_refused(history: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        await history.query_events(EventQuery(limit=-1))
    with pytest.raises(ValueError, match="since_seq"):
        await history.query_events(EventQuery(since_seq=-1))


async def test_query_results_carry_the_stored_payload(history: Store) -> None:
    (event,) = await history.query_events(EventQuery(kinds=("acknowledged",)))
    assert event.payload == {"labels": {"service": "api", "severity": "page"}}
    assert (event.kind, event.at, event.rule_id, event.alert_id) == (
        "acknowledged",
        20.0,
        "cpu",
        "a1",
    )
