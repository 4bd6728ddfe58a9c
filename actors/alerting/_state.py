"""BookState: the alert book's data, its documents, checkpoints and replay.

The alert manager writes state documents only at checkpoints (every few thousand
events or seconds, and at a clean stop), and every event in between carries what its
transition changed. Restoring is therefore: load the checkpoint's documents, then apply
the events after it, in order (``replay``). Each kind's effect here mirrors what
``AlertBook`` did when it emitted the event; tests/alerting/test_book_properties.py
checks that a book restored from any history equals the live one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Self

from actors.alerting._alert import Alert
from actors.alerting._inhibition import InhibitRule
from actors.alerting._muting import Muting
from actors.alerting._silences import Silence
from actors.store import StateWrite, StoredEvent, encode_payload
from messages import AlertState, Severity, TransitionKind, parse_matchers

__all__ = ["ALERTS", "META", "META_KEY", "SILENCES", "BookState", "checkpoint_seq", "replay"]

ALERTS = "alerts"
"""The store collection of alert documents, keyed by alert id."""
SILENCES = "silences"
"""The store collection of silence documents, keyed by silence id."""
META = "meta"
"""The store collection of the book's counters (key ``META_KEY``)."""
META_KEY = "alert-book"


def _document(collection: str, key: str, document: dict[str, Any]) -> StateWrite:
    # Encoded here, in Rust: a checkpoint writes one document per changed alert, and
    # the json module's encoder costs about three times as much (see encode_payload).
    return StateWrite(collection, key, document, encode_payload(document))


def _deleted(collection: str, key: str) -> StateWrite:
    return StateWrite(collection, key, None)


def checkpoint_seq(documents: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> int:
    """Return the seq of the last event the checkpoint ``documents`` include (0: none)."""
    return int(documents.get(META, {}).get(META_KEY, {}).get("checkpoint_seq", 0))


class BookState:
    """Hold every alert and silence, and persist them: documents, checkpoints, replay.

    ``AlertBook`` (its subclass) makes the decisions; this keeps the data and its
    durable form. Resolved alerts stay queryable until ``max_resolved`` newer
    resolutions push them out, ended silences until ``max_ended_silences`` newer ones
    do; their documents are then deleted (the history keeps their events).
    """

    def __init__(
        self,
        *,
        inhibit_rules: Sequence[InhibitRule] = (),
        max_resolved: int = 10_000,
        max_ended_silences: int = 1_000,
    ) -> None:
        self._alerts: dict[str, Alert] = {}
        self._open: dict[str, Alert] = {}
        self._last: dict[str, Alert] = {}
        self._resolved: OrderedDict[str, None] = OrderedDict()
        self._max_resolved = max_resolved
        self._next_alert = 1
        self._resolutions = 0
        self._dirty: dict[str, Alert | None] = {}
        self._meta_dirty = False
        self._muting = Muting(
            self._alerts,
            self._open,
            self._mark,
            inhibit_rules=inhibit_rules,
            max_ended_silences=max_ended_silences,
        )

    @classmethod
    def restore(
        cls,
        documents: Mapping[str, Mapping[str, Mapping[str, Any]]],
        history: Iterable[StoredEvent] = (),
        **options: Any,
    ) -> Self:
        """Rebuild a book from a checkpoint's documents and the history after it.

        ``documents`` are what ``drain_writes``/``checkpoint`` produced; ``history``
        the events appended after the checkpoint, in order, which are replayed.
        ``options`` are ``__init__``'s. Call ``reconcile(now)`` next and persist its
        events: silences may have ended while nothing ran, and the inhibition rules
        may have changed.
        """
        book = cls(**options)
        meta = documents.get(META, {}).get(META_KEY, {})
        book._next_alert = int(meta.get("next_alert_number", 1))
        alerts = sorted(
            (Alert.from_document(dict(doc)) for doc in documents.get(ALERTS, {}).values()),
            key=lambda alert: alert.number,
        )
        for alert in alerts:
            book._alerts[alert.alert_id] = alert
            book._last[alert.fingerprint] = alert
            book._next_alert = max(book._next_alert, alert.number + 1)
            if alert.is_open:
                book._open[alert.fingerprint] = alert
        for alert in sorted(
            (a for a in alerts if not a.is_open), key=lambda a: (a.resolution or 0, a.number)
        ):
            book._resolved[alert.alert_id] = None
            book._resolutions = max(book._resolutions, alert.resolution or 0)
        silences = book._muting.silences
        silences.restore(documents.get(SILENCES, {}))
        silences.next_number = max(silences.next_number, int(meta.get("next_silence_number", 1)))
        replay(book, history)
        for alert in sorted(book._open.values(), key=lambda a: a.number):
            book._muting.track(alert)
        return book

    # -- documents and checkpoints --------------------------------------------------------

    def drain_writes(self) -> list[StateWrite]:
        """Return the document writes of every change since the last call, and forget them.

        Each changed alert or silence is written once, as it is now, plus the
        counters (``META``) when they moved.
        """
        writes = self._drain_documents()
        if self._meta_dirty:
            writes.append(StateWrite(META, META_KEY, self._counters()))
        self._meta_dirty = False
        return writes

    def checkpoint(self) -> Callable[[int], list[StateWrite]]:
        """Snapshot every change since the last checkpoint; return its writes' maker.

        Call the result with the seq of the last event this state includes: it returns
        the documents and the counters with ``checkpoint_seq``, which ``restore``'s
        caller reads to know from which seq to replay the history.
        """
        writes = self._drain_documents()
        counters = self._counters()
        self._meta_dirty = False

        def finish(checkpoint_seq: int) -> list[StateWrite]:
            meta = {**counters, "checkpoint_seq": checkpoint_seq}
            return [*writes, StateWrite(META, META_KEY, meta)]

        return finish

    def _drain_documents(self) -> list[StateWrite]:
        silences = self._muting.silences
        writes = [
            _deleted(ALERTS, key) if alert is None else _document(ALERTS, key, alert.to_document())
            for key, alert in self._dirty.items()
        ]
        writes.extend(
            StateWrite(SILENCES, key, None if silence is None else silence.to_document())
            for key, silence in silences.dirty.items()
        )
        self._dirty = {}
        silences.dirty = {}
        return writes

    def _counters(self) -> dict[str, int]:
        return {
            "next_alert_number": self._next_alert,
            "next_silence_number": self._muting.silences.next_number,
        }

    def _mark(self, alert: Alert) -> None:
        self._dirty[alert.alert_id] = alert

    def _remember_resolved(self, alert: Alert) -> None:
        self._resolutions += 1
        alert.resolution = self._resolutions
        self._resolved[alert.alert_id] = None
        while len(self._resolved) > self._max_resolved:
            old_id, _ = self._resolved.popitem(last=False)
            old = self._alerts.pop(old_id)
            if self._last.get(old.fingerprint) is old:
                del self._last[old.fingerprint]
            self._dirty[old_id] = None


_K = TransitionKind


def replay(book: BookState, events: Iterable[StoredEvent]) -> int:
    """Apply ``events`` (in seq order) to ``book``; return how many were applied.

    Every alert and silence touched is marked for the next ``drain_writes``. Events
    about alerts the book no longer holds are skipped.
    """
    applied = 0
    for event in events:
        handler = _HANDLERS.get(event.kind)
        if handler is not None:
            handler(book, event, event.payload)
            applied += 1
    if applied:
        book._meta_dirty = True
    return applied


def _number(identifier: str) -> int:
    return int(identifier.rsplit("-", 1)[1])


def _alert(book: BookState, event: StoredEvent) -> Alert | None:
    alert = None if event.alert_id is None else book._alerts.get(event.alert_id)
    if alert is not None:
        book._dirty[alert.alert_id] = alert
    return alert


def _opened(book: BookState, event: StoredEvent, p: Any) -> None:
    assert event.alert_id is not None
    assert event.fingerprint is not None
    assert event.rule_id is not None
    number = _number(event.alert_id)
    previous = book._last.get(event.fingerprint)
    if previous is not None and previous.held:
        previous.held = False
        book._dirty[previous.alert_id] = previous
    alert = Alert(
        alert_id=event.alert_id,
        number=number,
        fingerprint=event.fingerprint,
        rule_id=event.rule_id,
        labels=dict(p["labels"]),
        annotations=dict(p["annotations"]),
        severity=Severity(p["severity"]),
        value=p["value"],
        no_data=bool(p["no_data"]),
        starts_at=float(p["starts_at"]),
        opened_at=event.at,
        last_seen_at=event.at,
        silenced_by=frozenset(p["silenced_by"]),
        inhibited_by=frozenset(p["inhibited_by"]),
        previous_alert_id=p["previous_alert_id"],
    )
    book._alerts[alert.alert_id] = alert
    book._open[alert.fingerprint] = alert
    book._last[alert.fingerprint] = alert
    book._dirty[alert.alert_id] = alert
    book._next_alert = max(book._next_alert, number + 1)


def _updated(book: BookState, event: StoredEvent, p: Any) -> None:
    alert = _alert(book, event)
    if alert is not None:
        alert.value = p["value"]
        alert.annotations = dict(p["annotations"])
        alert.severity = Severity(p["severity"])
        alert.refresh_match_labels()
        alert.last_seen_at = event.at
        alert.updates += 1


def _acknowledged(book: BookState, event: StoredEvent, p: Any) -> None:
    alert = _alert(book, event)
    if alert is not None:
        alert.status = AlertState.ACKNOWLEDGED
        alert.acknowledged_by = p["by"]
        alert.acknowledged_at = event.at
        alert.acknowledge_comment = p["comment"]


def _resolved(book: BookState, event: StoredEvent, p: Any) -> None:
    alert = _alert(book, event)
    if alert is None:
        return
    alert.status = AlertState.RESOLVED
    alert.resolved_at = event.at
    alert.resolved_by = p["by"]
    alert.resolve_comment = p["comment"]
    alert.held = bool(p["manual"])
    alert.value = p["value"]
    alert.silenced_by = frozenset()
    alert.inhibited_by = frozenset()
    if book._open.get(alert.fingerprint) is alert:
        del book._open[alert.fingerprint]
    book._remember_resolved(alert)


def _rule_resolved(book: BookState, event: StoredEvent, _p: Any) -> None:
    alert = _alert(book, event)
    if alert is not None:
        alert.held = False


def _muted(book: BookState, event: StoredEvent, p: Any) -> None:
    alert = _alert(book, event)
    if alert is not None:
        alert.silenced_by = frozenset(p["silenced_by"])
        alert.inhibited_by = frozenset(p["inhibited_by"])


def _escalated(book: BookState, event: StoredEvent, p: Any) -> None:
    alert = _alert(book, event)
    if alert is not None:
        alert.escalation_level = int(p["level"])


def _silence_created(book: BookState, event: StoredEvent, p: Any) -> None:
    book._muting.silences.add(
        Silence(
            silence_id=p["silence_id"],
            number=_number(p["silence_id"]),
            matchers=parse_matchers("{" + ",".join(p["matchers"]) + "}"),
            starts_at=float(p["starts_at"]),
            ends_at=float(p["ends_at"]),
            created_by=p["created_by"],
            created_at=event.at,
            comment=p["comment"],
        )
    )


def _silence_started(book: BookState, _event: StoredEvent, p: Any) -> None:
    registry = book._muting.silences
    registry.mark_applied(registry.get(p["silence_id"]))


def _silence_expired(book: BookState, event: StoredEvent, p: Any) -> None:
    registry = book._muting.silences
    silence = registry.get(p["silence_id"])
    silence.expired_by = p["by"]
    silence.expired_at = event.at
    silence.expire_comment = p.get("comment")  # None in histories from before it was kept
    registry.end(silence)


def _silence_ended(book: BookState, _event: StoredEvent, p: Any) -> None:
    registry = book._muting.silences
    registry.end(registry.get(p["silence_id"]))


def _created_applied(book: BookState, event: StoredEvent, p: Any) -> None:
    _silence_created(book, event, p)
    if float(p["starts_at"]) <= event.at:
        _silence_started(book, event, p)


_HANDLERS: dict[str, Callable[[BookState, StoredEvent, Any], None]] = {
    _K.ALERT_OPENED.value: _opened,
    _K.ALERT_UPDATED.value: _updated,
    _K.ALERT_ACKNOWLEDGED.value: _acknowledged,
    _K.ALERT_RESOLVED.value: _resolved,
    _K.ALERT_RULE_RESOLVED.value: _rule_resolved,
    _K.ALERT_SUPPRESSED.value: _muted,
    _K.ALERT_UNSUPPRESSED.value: _muted,
    _K.ALERT_ESCALATED.value: _escalated,
    _K.SILENCE_CREATED.value: _created_applied,
    _K.SILENCE_STARTED.value: _silence_started,
    _K.SILENCE_EXPIRED.value: _silence_expired,
    _K.SILENCE_ENDED.value: _silence_ended,
}
