"""Bad client frames for the fuzz scenario, each with the answer the protocol promises.

``BadFrames(seed, role, ...)`` makes an endless, reproducible stream of ``BadFrame``:
malformed JSON, wrong-typed, missing and unknown fields, unknown types, binary frames,
frames the connection's role may not send, and out-of-order commands (unknown alert,
silence, rule or subscription ids, a subscription id already in use, a resume beyond
the last seq, acknowledging a resolved alert). None of them may change stored state.
Every frame that keeps the connection open gets exactly one ``error`` with the frame's
id (None when it has no usable id) and the code ``BadFrame.code`` (docs/PROTOCOL.md);
``field``, when set, is where the error must point.

Frames that close the connection (oversized: 1009, invalid UTF-8: 1007) are made by
``closing_frame``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["ROLE_FRAMES", "BadFrame", "BadFrames", "Known", "closing_frame"]

ROLE_FRAMES: dict[str, frozenset[str]] = {
    "viewer": frozenset({"subscribe", "unsubscribe", "query", "ping"}),
    "operator": frozenset(
        {"subscribe", "unsubscribe", "query", "ping", "ack", "resolve", "silence", "expire_silence"}
    ),
    "admin": frozenset(
        {"subscribe", "unsubscribe", "query", "ping", "ack", "resolve", "silence"}
        | {"expire_silence", "put_rule", "delete_rule", "revert_rule", "list_rules"}
    ),
    "ingest": frozenset({"ingest", "ping"}),
}
"""The frame types each role may send (docs/PROTOCOL.md, Roles)."""

ALL_TYPES = sorted(set().union(*ROLE_FRAMES.values()))


@dataclass(frozen=True)
class Known:
    """What exists on the server, so out-of-order frames name things that do not.

    ``resolved_alert``: an alert id in state resolved; ``live_subscription``: a
    subscription id the connection already holds; ``seq``: the last history seq.
    """

    resolved_alert: str
    live_subscription: str
    seq: int
    now: float


@dataclass(frozen=True)
class BadFrame:
    """One frame to send and the error it must get: ``code``, for id ``answer_id``."""

    payload: str | bytes
    category: str
    code: str
    answer_id: str | None
    field: str | None = None


def _rule(rule_id: str) -> dict[str, Any]:
    return {
        "type": "threshold",
        "id": rule_id,
        "selector": "fuzz_metric",
        "op": ">",
        "threshold": 1.0,
        "severity": "warning",
    }


def _valid(frame_type: str, known: Known, rng: random.Random) -> dict[str, Any]:
    """Return the fields (besides ``type`` and ``id``) of a valid frame of ``frame_type``."""
    now = known.now
    fields: dict[str, dict[str, Any]] = {
        "ping": {},
        "subscribe": {"severities": ["critical"], "states": ["active"], "matchers": 'host="a"'},
        "unsubscribe": {"subscription": "fuzz-sub"},
        "query": {"states": ["active"], "limit": 10},
        "ack": {"alert_id": "alert-404", "comment": "fuzz"},
        "resolve": {"alert_id": "alert-404", "comment": "fuzz"},
        "silence": {
            "matchers": 'host="fuzz"',
            "starts_at": now,
            "ends_at": now + 60,
            "comment": "fuzz",
        },
        "expire_silence": {"silence_id": "silence-404"},
        "put_rule": {"rule": _rule(f"fuzz-{rng.randrange(10**6)}")},
        "delete_rule": {"rule_id": "no-such-rule"},
        "revert_rule": {"rule_id": "no-such-rule"},
        "list_rules": {},
        "ingest": {
            "samples": [
                {"name": "fuzz_metric", "value": 1.0, "labels": {"h": "x"}, "timestamp": now}
            ]
        },
    }
    return dict(fields[frame_type])


_BAD_VALUES: dict[str, list[Any]] = {
    "severities": ["critical", ["bogus"], [1], {}, [None]],
    "states": ["active", ["bogus"], 3, [[]]],
    "matchers": ["host=", "{{", 5, 'x=~"("', [{"name": "", "op": "=", "value": "x"}], {}],
    "resume_from": [-1, "abc", 1.5, [], {}],
    "notifications": [{}, [], "maybe", 2],
    "subscription": ["", None, "x" * 129, 5, []],
    "limit": [0, 10_001, "ten", 1.5, None, []],
    "alert_id": ["", None, 5, [], {}],
    "comment": [5, [], None, {}],
    "starts_at": ["soon", [], None, {}],
    "ends_at": ["later", [], None, {}],
    "silence_id": ["", 7, None, []],
    "rule": [
        {},
        {"type": "threshold"},
        {**_rule("r"), "op": "~"},
        {**_rule("r"), "for": -1},
        {**_rule("r"), "type": "nope"},
        {**_rule("r"), "selector": "{{"},
        {**_rule("r"), "annotations": {"summary": "{{ value"}},
        {**_rule("r"), "annotations": {"summary": "{% for %}"}},
        {**_rule("r"), "severity": "urgent"},
        {**_rule("r"), "threshold": "high"},
        {**_rule("bad id"), "threshold": 1.0},
        "a rule",
        [],
    ],
    "rule_id": ["", "bad id", 5, None, "x" * 201],
    "samples": [
        [],
        {},
        [{"name": "", "value": 1.0}],
        [{"name": "9bad", "value": 1.0}],
        [{"name": "m", "value": "high"}],
        [{"name": "m", "value": None}],
        [{"name": "m", "value": 1.0, "labels": {"__x": "y"}}],
        [{"name": "m", "value": 1.0, "labels": {"ok": 5}}],
        [{"name": "m", "value": 1.0, "timestamp": 1e15}],
        [{"name": "m"}],
    ],
}
"""For each field, values that never validate there."""

_BAD_IDS: list[Any] = ["", None, 5, 1.5, [], {}, "x" * 129, True]
_MALFORMED: list[Callable[[random.Random], str]] = [
    lambda r: '{"type": "ping", "id": "x"',  # truncated
    lambda r: "",
    lambda r: "not json at all",
    lambda r: "{'type': 'ping'}",  # Python, not JSON
    lambda r: '{"type": "ping", "id": "x",}',  # trailing comma
    lambda r: "[" * r.randrange(1_000, 5_000) + "]" * 10,  # deep, unbalanced
    lambda r: '{"a":' * r.randrange(1_000, 3_000) + "1" + "}" * 3_000,  # deep objects
    lambda r: "[" * 3000 + "]" * 3000,  # deep, balanced: valid JSON, not an object
    lambda r: json.dumps(r.choice([None, 1, 1.5, "ping", [], [{"type": "ping"}], True])),
    lambda r: "".join(chr(r.randrange(32, 0x2FFF)) for _ in range(r.randrange(1, 200))),
    lambda r: '{"type": "ping", "id": "x"} {"type": "ping", "id": "y"}',  # two documents
    lambda r: '{"type": "ping", "id": "\\ud800"}',  # a lone surrogate escape
    lambda r: '{"type": NaN, "value": Infinity}',
    lambda r: '{"type": "ping", "id": "x", "id": 5}',  # a repeated key
]


class BadFrames:
    """An endless, reproducible stream of bad frames for one connection of ``role``.

    ``ids`` are unique per stream (``prefix`` + a counter) except where reuse is the
    point (a subscribe with the id of ``known.live_subscription``).
    """

    def __init__(self, seed: int, role: str, prefix: str, known: Known) -> None:
        self._rng = random.Random(seed)
        self._role = role
        self._prefix = prefix
        self._known = known
        self._count = 0
        self._kinds: list[Callable[[], BadFrame]] = [
            self._malformed,
            self._wrong_field,
            self._wrong_field,
            self._wrong_field,
            self._missing_field,
            self._unknown_field,
            self._unknown_type,
            self._bad_id,
            self._binary,
            self._wrong_role,
            self._wrong_role,
            self._out_of_order,
            self._out_of_order,
        ]

    def __iter__(self) -> Iterator[BadFrame]:
        while True:
            yield self._rng.choice(self._kinds)()

    def _next_id(self) -> str:
        self._count += 1
        return f"{self._prefix}-{self._count}"

    def _allowed_type(self) -> str:
        return self._rng.choice(sorted(ROLE_FRAMES[self._role]))

    def _frame(self, frame_type: str, frame_id: Any, fields: dict[str, Any]) -> str:
        return json.dumps({"type": frame_type, "id": frame_id, **fields})

    def _malformed(self) -> BadFrame:
        text = self._rng.choice(_MALFORMED)(self._rng)
        return BadFrame(text, "malformed", "invalid", None)

    def _wrong_field(self) -> BadFrame:
        frame_type = self._allowed_type()
        fields = _valid(frame_type, self._known, self._rng)
        candidates = [name for name in fields if name in _BAD_VALUES]
        if not candidates:  # ping, list_rules: nothing but type and id to break
            return self._unknown_field()
        name = self._rng.choice(candidates)
        fields[name] = self._rng.choice(_BAD_VALUES[name])
        frame_id = self._next_id()
        payload = self._frame(frame_type, frame_id, fields)
        return BadFrame(payload, f"wrong-typed {frame_type}.{name}", "invalid", frame_id, name)

    def _missing_field(self) -> BadFrame:
        frame_type = self._rng.choice(
            [t for t in ROLE_FRAMES[self._role] if t not in ("ping", "list_rules", "query")]
            or ["unsubscribe"]
        )
        if frame_type not in ROLE_FRAMES[self._role]:
            return self._unknown_field()
        fields = _valid(frame_type, self._known, self._rng)
        required = {
            "subscribe": None,
            "unsubscribe": "subscription",
            "ack": "alert_id",
            "resolve": "alert_id",
            "silence": "matchers",
            "expire_silence": "silence_id",
            "put_rule": "rule",
            "delete_rule": "rule_id",
            "revert_rule": "rule_id",
            "ingest": "samples",
        }[frame_type]
        if required is None:
            return self._unknown_field()
        del fields[required]
        frame_id = self._next_id()
        payload = self._frame(frame_type, frame_id, fields)
        return BadFrame(payload, f"missing {frame_type}.{required}", "invalid", frame_id, required)

    def _unknown_field(self) -> BadFrame:
        frame_type = self._allowed_type()
        fields = _valid(frame_type, self._known, self._rng)
        name = self._rng.choice(["by", "user", "roles", "admin", "extra", "seq"])
        fields[name] = self._rng.choice(["ann", True, ["admin"], 1])
        frame_id = self._next_id()
        payload = self._frame(frame_type, frame_id, fields)
        return BadFrame(payload, f"unknown field {frame_type}.{name}", "invalid", frame_id, name)

    def _unknown_type(self) -> BadFrame:
        frame_type = self._rng.choice(["", "PING", "welcome", "reply", "event", "admin", 5, None])
        frame_id = self._next_id()
        payload = self._frame(frame_type, frame_id, {})  # type: ignore[arg-type]
        return BadFrame(payload, "unknown type", "invalid", frame_id, "type")

    def _bad_id(self) -> BadFrame:
        frame_type = self._allowed_type()
        fields = _valid(frame_type, self._known, self._rng)
        frame_id = self._rng.choice(_BAD_IDS)
        payload = self._frame(frame_type, frame_id, fields)
        return BadFrame(payload, "bad id", "invalid", None, "id")

    def _binary(self) -> BadFrame:
        frame_id = self._next_id()
        payload = self._frame("ping", frame_id, {}).encode()
        return BadFrame(payload, "binary", "invalid", None)

    def _wrong_role(self) -> BadFrame:
        forbidden = [t for t in ALL_TYPES if t not in ROLE_FRAMES[self._role]]
        if not forbidden:  # admin may send everything but ingest
            return self._out_of_order()
        frame_type = self._rng.choice(forbidden)
        frame_id = self._next_id()
        payload = self._frame(frame_type, frame_id, _valid(frame_type, self._known, self._rng))
        return BadFrame(payload, f"wrong role {self._role}:{frame_type}", "forbidden", frame_id)

    def _out_of_order(self) -> BadFrame:
        known, rng = self._known, self._rng
        role = self._role
        if role == "ingest":
            return self._wrong_role()
        number = rng.randrange(10**6, 10**7)
        choices: list[tuple[str, dict[str, Any], str]] = [
            ("unsubscribe", {"subscription": f"never-{number}"}, "not_found"),
            ("subscribe", {"resume_from": known.seq + number}, "invalid"),
        ]
        if role in ("operator", "admin"):
            choices += [
                ("ack", {"alert_id": f"alert-{number}"}, "not_found"),
                ("resolve", {"alert_id": f"alert-{number}"}, "not_found"),
                ("ack", {"alert_id": known.resolved_alert}, "illegal_transition"),
                ("resolve", {"alert_id": known.resolved_alert}, "illegal_transition"),
                ("expire_silence", {"silence_id": f"silence-{number}"}, "not_found"),
            ]
        if role == "admin":
            choices.append(("delete_rule", {"rule_id": f"gone-{number}"}, "not_found"))
            choices.append(("revert_rule", {"rule_id": f"gone-{number}"}, "not_found"))
        frame_type, fields, code = rng.choice(choices)
        frame_id = self._next_id()
        if frame_type == "subscribe" and rng.random() < 0.5:
            frame_id = known.live_subscription  # an id in use: conflict, before resume_from
            fields = {}
            code = "conflict"
        payload = self._frame(frame_type, frame_id, fields)
        return BadFrame(payload, f"out of order {frame_type}", code, frame_id)


def closing_frame(kind: str, max_frame_bytes: int) -> tuple[str | bytes, int]:
    """Return a frame that must close the connection, and the close code it must get.

    ``oversized``: a text frame one byte over ``max_frame_bytes`` (1009).
    ``bad_utf8``: a text frame that is not UTF-8 (1007, from websockets itself).
    ``bad_token``: any frame, on a connection whose token is refused (1008).
    """
    if kind == "oversized":
        filler = "x" * max_frame_bytes
        return json.dumps({"type": "ping", "id": "big", "pad": filler}), 1009
    if kind == "bad_utf8":
        return b'{"type": "ping", "id": "\xff\xfe"}', 1007
    if kind == "bad_token":  # sent on a connection whose token is refused
        return json.dumps({"type": "ingest", "id": "sneak", "samples": []}), 1008
    raise ValueError(f"unknown closing frame kind {kind!r}")
