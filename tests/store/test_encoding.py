"""encode_payload: the fast encoding of plain-JSON payloads, checked against the reference."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.store import EventQuery, NewEvent, StateWrite, Store, encode_payload
from actors.store._encoding import encode_json

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_PAYLOADS = st.dictionaries(st.text(), _VALUES, max_size=8)


@settings(max_examples=300, deadline=None)
@given(_PAYLOADS)
def test_a_payload_of_json_types_encodes_to_ascii_text_that_decodes_as_the_reference(
    payload: dict[str, Any],
) -> None:
    text = encode_payload(payload)
    assert text.isascii()
    assert json.loads(text) == json.loads(encode_json(payload, "payload"))


def test_plain_ascii_text_encodes_exactly_as_the_reference() -> None:
    payload = {
        "value": 0.97,
        "labels": {"alertname": "cpu", "host": "a"},
        "silenced_by": [],
        "manual": False,
        "by": None,
        "level": 2,
    }
    assert encode_payload(payload) == encode_json(payload, "payload")


@pytest.mark.parametrize("value", ["café", "\u2603", "\ud800", "NaN", "Infinity", 'a"b\\c\n'])
def test_text_the_fast_encoder_spells_otherwise_takes_the_reference_path(value: str) -> None:
    payload = {"text": value, "nested": {value: [value]}}
    assert encode_payload(payload) == encode_json(payload, "payload")


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_a_number_json_cannot_hold_is_refused_naming_the_payload(number: float) -> None:
    with pytest.raises(ValueError, match="event payload is not JSON"):
        encode_payload({"value": {"deep": [number]}})


async def test_a_store_keeps_the_given_payload_text_and_reads_it_back(store: Store) -> None:
    payload = {"value": 1e-05, "labels": {"host": "a"}}
    event = NewEvent("fired", 1.0, payload, "alert-1", payload_json=encode_payload(payload))
    assert await store.append([event]) == [1]
    [stored] = await store.query_events(EventQuery())
    assert stored.payload == payload


async def test_payload_text_that_is_not_a_str_is_refused_before_anything_is_stored(
    store: Store,
) -> None:
    bad = NewEvent("fired", 1.0, {}, payload_json=b"{}")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="payload_json must be a str"):
        await store.append([bad])
    assert await store.query_events(EventQuery()) == []


async def test_a_store_keeps_the_given_document_text_and_loads_it_back(store: Store) -> None:
    document = {"labels": {"host": "a"}, "value": 0.5, "silenced_by": []}
    write = StateWrite("alerts", "alert-1", document, encode_payload(document))
    await store.append([], [write])
    assert (await store.load()).documents == {"alerts": {"alert-1": document}}


async def test_document_text_that_is_not_a_str_is_refused_before_anything_is_stored(
    store: Store,
) -> None:
    bad = StateWrite("alerts", "alert-1", {}, b"{}")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="value_json must be a str"):
        await store.append([], [bad])
    assert (await store.load()).documents == {}
