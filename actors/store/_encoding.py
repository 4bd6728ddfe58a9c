"""Check and encode what is appended; decode what is read back.

Both stores run every append through :func:`encode_events` and :func:`encode_writes` on
the caller's side, before anything is queued, so a bad payload raises in the caller and
never poisons a group-committed batch of other callers' appends.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from actors.store._api import NewEvent, StateWrite, StoredEvent

EventRow = tuple[str, float, str | None, str | None, str | None, str]
"""(kind, at, alert_id, fingerprint, rule_id, payload JSON), without the seq."""

WriteRow = tuple[str, str, str | None]
"""(collection, key, value JSON or None for a delete)."""

_encoder = json.JSONEncoder(
    # ASCII only: a lone surrogate in a string cannot reach SQLite's UTF-8 binding.
    ensure_ascii=True,
    # NaN and Infinity are not JSON; SQLite's JSON functions would reject the row.
    allow_nan=False,
    separators=(",", ":"),
    default=lambda value: _plain(value),
)


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        raise TypeError(f"a set is not JSON (order is undefined): {value!r}")
    raise TypeError(f"{type(value).__name__} is not JSON: {value!r}")


def encode_json(value: Mapping[str, Any], what: str) -> str:
    """Return ``value`` as compact JSON text.

    Raises TypeError (a value JSON cannot hold) or ValueError (NaN, Infinity), naming
    ``what``.
    """
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a JSON object (a Mapping), not {type(value).__name__}")
    try:
        return _encoder.encode(value)
    except TypeError as error:
        raise TypeError(f"{what} is not JSON: {error}") from error
    except ValueError as error:
        raise ValueError(f"{what} is not JSON: {error}") from error


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value.isascii():
        value.encode("utf-8")  # raises UnicodeEncodeError (a ValueError) on a lone surrogate
    return value


def _optional_text(value: object, what: str) -> str | None:
    return None if value is None else _text(value, what)


def encode_events(events: Sequence[NewEvent]) -> list[EventRow]:
    """Check ``events`` and return their rows; raise TypeError or ValueError naming the field."""
    rows: list[EventRow] = []
    for event in events:
        if not isinstance(event, NewEvent):
            raise TypeError(f"append takes NewEvent, not {type(event).__name__}")
        at = event.at
        if not isinstance(at, int | float) or not math.isfinite(at):
            raise ValueError(f"NewEvent.at must be a finite number, not {at!r}")
        rows.append(
            (
                _text(event.kind, "NewEvent.kind"),
                float(at),
                _optional_text(event.alert_id, "NewEvent.alert_id"),
                _optional_text(event.fingerprint, "NewEvent.fingerprint"),
                _optional_text(event.rule_id, "NewEvent.rule_id"),
                encode_json(event.payload, f"the payload of a {event.kind!r} event"),
            )
        )
    return rows


def encode_writes(writes: Sequence[StateWrite]) -> list[WriteRow]:
    """Check ``writes`` and return their rows; raise TypeError or ValueError naming the field."""
    rows: list[WriteRow] = []
    for write in writes:
        if not isinstance(write, StateWrite):
            raise TypeError(f"append takes StateWrite, not {type(write).__name__}")
        collection = _text(write.collection, "StateWrite.collection")
        key = _text(write.key, "StateWrite.key")
        value = (
            None
            if write.value is None
            else encode_json(write.value, f"document {collection}/{key}")
        )
        rows.append((collection, key, value))
    return rows


def decode_event(
    seq: int,
    kind: str,
    at: float,
    alert_id: str | None,
    fingerprint: str | None,
    rule_id: str | None,
    payload: str,
) -> StoredEvent:
    """Return the StoredEvent of one ``events`` row."""
    return StoredEvent(
        seq=seq,
        kind=kind,
        at=at,
        payload=json.loads(payload),
        alert_id=alert_id,
        fingerprint=fingerprint,
        rule_id=rule_id,
    )
