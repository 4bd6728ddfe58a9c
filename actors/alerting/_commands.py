"""Operator commands and book queries turned into transitions and typed answers; pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from actors._firing_alerts import FiringAlerts, FiringAlertsQuery
from actors.alerting._book import AlertBook
from actors.alerting._errors import AlertingError
from actors.store import NewEvent
from messages import (
    COMMAND_ADAPTER,
    Acknowledge,
    AlertFiring,
    AlertList,
    Command,
    CreateSilence,
    ErrorReply,
    ExpireSilence,
    GetAlert,
    ListSilences,
    QueryAlerts,
    Resolve,
    SilenceList,
)

__all__ = ["COMMANDS", "QUERIES", "Outcome", "answer", "execute", "parse_command"]

COMMANDS = (Acknowledge, Resolve, CreateSilence, ExpireSilence)
"""The commands ``execute`` applies."""
QUERIES = (QueryAlerts, GetAlert, ListSilences, FiringAlertsQuery)
"""The queries ``answer`` answers from the book."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command did: the answer to send once ``events`` are durable.

    A refused command has an ``ErrorReply`` answer, no events, and changed nothing.
    """

    answer: BaseModel
    events: list[NewEvent] = field(default_factory=list)


def execute(
    book: AlertBook, command: Acknowledge | Resolve | CreateSilence | ExpireSilence, now: float
) -> Outcome:
    """Apply an operator command to ``book`` at ``now``; never raises for bad input."""
    try:
        if isinstance(command, Acknowledge):
            alert = book.get(command.alert_id)
            events = book.acknowledge(command.alert_id, command.by, command.comment, now)
            return Outcome(alert.summary(), events)
        if isinstance(command, Resolve):
            alert = book.get(command.alert_id)
            events = book.resolve(command.alert_id, command.by, command.comment, now)
            return Outcome(alert.summary(), events)
        if isinstance(command, CreateSilence):
            silence, events = book.create_silence(command, now)
            return Outcome(silence.summary(now), events)
        silence = book.silence(command.silence_id)
        events = book.expire_silence(command.silence_id, command.by, command.comment, now)
        return Outcome(silence.summary(now), events)
    except AlertingError as error:
        return Outcome(error.to_reply())


def answer(
    book: AlertBook,
    query: QueryAlerts | GetAlert | ListSilences | FiringAlertsQuery,
    now: float,
) -> BaseModel:
    """Answer a query from the book's current state; an ``ErrorReply`` if it cannot.

    ``FiringAlertsQuery`` (a restarted evaluator's question) is answered with every
    alert of the rule its evaluator still considers firing, as ``AlertFiring``s in
    ``starts_at`` order: the open ones and those resolved by hand whose rule has not
    resolved yet, so the evaluator will announce their resolution.
    """
    if isinstance(query, FiringAlertsQuery):
        firing = sorted(book.firing(query.rule_id), key=lambda a: (a.starts_at, a.number))
        return FiringAlerts(
            rule_id=query.rule_id,
            alerts=tuple(
                AlertFiring(
                    rule_id=alert.rule_id,
                    labels=alert.labels,
                    fingerprint=alert.fingerprint,
                    no_data=alert.no_data,
                    value=alert.value,
                    annotations=alert.annotations,
                    severity=alert.severity,
                    starts_at=alert.starts_at,
                )
                for alert in firing
            ),
        )
    if isinstance(query, QueryAlerts):
        found = book.query(query.states, query.matchers, query.limit)
        return AlertList(alerts=tuple(alert.summary() for alert in found))
    if isinstance(query, GetAlert):
        try:
            return book.get(query.alert_id).detail()
        except AlertingError as error:
            return error.to_reply()
    silences = book.silences(now, include_expired=query.include_expired)
    return SilenceList(silences=tuple(silence.summary(now) for silence in silences))


def parse_command(raw: str | bytes | bytearray | dict[str, Any]) -> Command | ErrorReply:
    """Validate raw JSON (or its ``dict``) as a ``Command``; an ``invalid`` reply if not."""
    try:
        if isinstance(raw, dict):
            return COMMAND_ADAPTER.validate_python(raw)
        return COMMAND_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        return ErrorReply.from_validation_error(exc, tagged=True)
