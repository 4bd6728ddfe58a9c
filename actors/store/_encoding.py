"""Check and encode what is appended; decode what is read back.

Both stores run every append through :func:`encode_events` and :func:`encode_writes` on
the caller's side, before anything is queued, so a bad payload raises in the caller and
never poisons a group-committed batch of other callers' appends.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic_core import to_json as _to_json

from actors.store._api import NewEvent, StateWrite, StoredEvent

EventRow = tuple[str, float, str | None, str | None, str | None, str]
"""(kind, at, alert_id, fingerprint, rule_id, payload JSON), without the seq."""

WriteRow = tuple[str, str, str | None]
"""(collection, key, value JSON or None for a delete)."""


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        raise TypeError(f"a set is not JSON (order is undefined): {value!r}")
    raise TypeError(f"{type(value).__name__} is not JSON: {value!r}")


_encoder = json.JSONEncoder(
    # ASCII only: a lone surrogate in a string cannot reach SQLite's UTF-8 binding.
    ensure_ascii=True,
    # NaN and Infinity are not JSON; SQLite's JSON functions would reject the row.
    allow_nan=False,
    separators=(",", ":"),
    default=_plain,
)
_encode: Callable[[object], str] = _encoder.encode
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)  # absent: a pure-Python json
if _c_make_encoder is not None:
    # The C encoder built once, rather than once per call as JSONEncoder.encode does:
    # this is the hot path of every append. Same options as _encoder; no circular-
    # reference markers (a cycle ends in RecursionError, reported as ValueError below).
    _c_encoder = _c_make_encoder(
        None, _plain, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, False
    )

    def _encode(value: object) -> str:
        return "".join(_c_encoder(value, 0))


def encode_json(value: Mapping[str, Any], what: str, *args: object) -> str:
    """Return ``value`` as compact JSON text.

    Raises TypeError (a value JSON cannot hold) or ValueError (NaN, Infinity, a cycle),
    naming ``what % args`` (formatted only then: this is the hot path).
    """
    if type(value) is not dict and not isinstance(value, Mapping):
        raise TypeError(
            f"{what % args} must be a JSON object (a Mapping), not {type(value).__name__}"
        )
    try:
        return _encode(value)
    except TypeError as error:
        raise TypeError(f"{what % args} is not JSON: {error}") from error
    except ValueError as error:
        raise ValueError(f"{what % args} is not JSON: {error}") from error
    except RecursionError as error:
        raise ValueError(
            f"{what % args} is not JSON: it contains itself, or nests too deep"
        ) from error


def encode_payload(payload: Mapping[str, Any]) -> str:
    """Return ``payload`` as the JSON text the store keeps (``NewEvent.payload_json``).

    For payloads built from JSON types only (dicts with str keys, lists, tuples, str,
    int, float, bool, None), as the alert manager's are: it is encoded in Rust
    (pydantic-core, ~3x faster than the json module here), and whatever that encoder
    would write differently from ``json`` (NaN or Infinity, which are refused;
    non-ASCII text, which is escaped; a lone surrogate) takes the reference path,
    :func:`encode_json`, which raises as an append would. The text decodes to the same
    values as ``encode_json``'s; numbers may be spelt differently (``0.00001`` for
    ``1e-05``). Other types (sets, datetimes, models) are not checked: use
    ``encode_json`` or leave ``payload_json`` unset for those.
    """
    try:
        text = _to_json(payload).decode()
    except ValueError:  # PydanticSerializationError: a lone surrogate, a cycle
        pass
    else:
        # Searched in the str: ``bytes in bytes`` first tries the needle as an int and
        # formats a TypeError for it, which costs more than the search.
        if text.isascii() and "NaN" not in text and "Infinity" not in text:
            return text
    return encode_json(payload, "an event payload")


def _text(value: object, what: str) -> str:
    if type(value) is not str:
        if not isinstance(value, str):
            raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    elif value.isascii():
        return value
    value.encode("utf-8")  # raises UnicodeEncodeError (a ValueError) on a lone surrogate
    return value


def encode_events(events: Sequence[NewEvent]) -> list[EventRow]:
    """Check ``events`` and return their rows; raise TypeError or ValueError naming the field."""
    rows: list[EventRow] = []
    append = rows.append
    isfinite = math.isfinite
    for event in events:
        if type(event) is not NewEvent and not isinstance(event, NewEvent):
            raise TypeError(f"append takes NewEvent, not {type(event).__name__}")
        kind, at, payload, alert_id, fingerprint, rule_id, text = event
        if type(at) is not float:
            if not isinstance(at, int | float):
                raise ValueError(f"NewEvent.at must be a finite number, not {at!r}")
            at = float(at)
        if not isfinite(at):
            raise ValueError(f"NewEvent.at must be a finite number, not {at!r}")
        # The common case (ASCII str) checked inline: this runs once per event per append.
        if type(kind) is not str or not kind.isascii():
            kind = _text(kind, "NewEvent.kind")
        if alert_id is not None and (type(alert_id) is not str or not alert_id.isascii()):
            alert_id = _text(alert_id, "NewEvent.alert_id")
        if fingerprint is not None and (type(fingerprint) is not str or not fingerprint.isascii()):
            fingerprint = _text(fingerprint, "NewEvent.fingerprint")
        if rule_id is not None and (type(rule_id) is not str or not rule_id.isascii()):
            rule_id = _text(rule_id, "NewEvent.rule_id")
        if text is None:
            text = encode_json(payload, "the payload of a %r event", kind)
        elif type(text) is not str or not text.isascii():
            text = _text(text, "NewEvent.payload_json")
        append((kind, at, alert_id, fingerprint, rule_id, text))
    return rows


def encode_writes(writes: Sequence[StateWrite]) -> list[WriteRow]:
    """Check ``writes`` and return their rows; raise TypeError or ValueError naming the field."""
    rows: list[WriteRow] = []
    for write in writes:
        if type(write) is not StateWrite and not isinstance(write, StateWrite):
            raise TypeError(f"append takes StateWrite, not {type(write).__name__}")
        collection, key, value, text = write
        # The common case (ASCII str) checked inline, as in encode_events.
        if type(collection) is not str or not collection.isascii():
            collection = _text(collection, "StateWrite.collection")
        if type(key) is not str or not key.isascii():
            key = _text(key, "StateWrite.key")
        if value is None:
            text = None
        elif text is None:
            text = encode_json(value, "document %s/%s", collection, key)
        elif type(text) is not str or not text.isascii():
            text = _text(text, "StateWrite.value_json")
        rows.append((collection, key, text))
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
