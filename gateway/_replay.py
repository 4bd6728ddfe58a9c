"""Resume from history: fetch the transitions after a seq, and push them to a subscription."""

from __future__ import annotations

from collections.abc import Iterable

from gateway._filters import Facts
from gateway._subscription import Record, Subscription
from messages import AlertTransition, ErrorReply, HistoryPage, QueryHistory, TransitionKind
from supervision import ActorRef

__all__ = ["HISTORY_PAGE", "HistoryUnavailable", "TooFarBehind", "fetch_history", "replay"]

HISTORY_PAGE = 1000
"""Events asked of the alert manager per ``QueryHistory``."""

_OPENED = TransitionKind.ALERT_OPENED


class HistoryUnavailable(Exception):
    """Raised when the alert manager could not answer a history query."""


class TooFarBehind(Exception):
    """Raised when more than the allowed number of events follow the resume point."""


async def fetch_history(
    manager: ActorRef, since: int, *, max_events: int, timeout: float
) -> list[AlertTransition]:
    """Return every transition after ``since``, oldest first, page by page.

    The alert manager answers only with what is durable, and everything the registry
    has been told is, so the result reaches at least the registry's seq when the ask
    was made. Raises ``TooFarBehind`` past ``max_events``, ``HistoryUnavailable`` if the
    manager answers with an error, and whatever the ask raises (``AskTimeout``,
    ``ActorDead``).
    """
    events: list[AlertTransition] = []
    while True:
        page = await manager.ask(QueryHistory(since_seq=since, limit=HISTORY_PAGE), timeout)
        if isinstance(page, ErrorReply):
            raise HistoryUnavailable(page.message)
        if not isinstance(page, HistoryPage):
            raise HistoryUnavailable(f"unexpected answer {type(page).__name__}")
        events.extend(page.events)
        if len(events) > max_events:
            raise TooFarBehind(f"more than {max_events} events after seq {since}")
        if not page.more or page.last_seq <= since:
            return events
        since = page.last_seq


def replay(subscription: Subscription, events: Iterable[AlertTransition]) -> bool:
    """Push the replayed ``events`` the subscription selects; False if the client was shed.

    History does not say what an alert looked like before the first replayed event about
    it, so that event is pushed whatever the filter says unless it opened the alert: the
    client may have shown the alert before it disconnected, and must hear that it left
    the filter. Later events of the same alert are matched before and after, as live
    ones are.
    """
    last: dict[str, Facts | None] = {}
    for event in events:
        after = _facts(event)
        alert_id = event.alert_id
        if alert_id is None:
            before = None
        elif alert_id in last:
            before = last[alert_id]
        else:
            before = None if event.kind is _OPENED else _ANYTHING
        if alert_id is not None:
            if after is None:  # a rule error: the alert did not change
                after = None if before is _ANYTHING else before
            else:
                last[alert_id] = after
        record = Record(event, before, after)
        if before is _ANYTHING:
            if record.seq <= subscription.cursor:
                continue
            subscription.cursor = record.seq
            if not subscription.connection.push(subscription.event_frame(record), large=True):
                return False
        elif not subscription.deliver(record, burst=True):
            return False
    return True


_ANYTHING: Facts = ({}, "", "")
"""Stands for "unknown, assume it was selected"."""


def _facts(event: AlertTransition) -> Facts | None:
    payload = event.payload
    labels, severity, state = payload.get("labels"), payload.get("severity"), payload.get("state")
    if isinstance(labels, dict) and isinstance(severity, str) and isinstance(state, str):
        return {str(k): str(v) for k, v in labels.items()}, severity, state
    return None
