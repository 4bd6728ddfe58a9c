"""History queries and analytics over the store's events: paging, counts, mean times, flapping."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel

from actors.alerting._subscriptions import TRANSITION_KINDS, transition
from actors.store import EventQuery, Store, StoredEvent
from messages import (
    AlertStats,
    AlertTransition,
    FlappingAlert,
    FlappingReport,
    HistoryPage,
    NoisiestRules,
    QueryAlertStats,
    QueryFlapping,
    QueryHistory,
    QueryNoisiestRules,
    RuleCount,
    RuleStats,
    TransitionKind,
)

__all__ = [
    "HISTORY_QUERIES",
    "MAX_SCANNED",
    "alert_stats",
    "answer_flapping",
    "answer_noisiest",
    "answer_stats",
    "flapping",
    "noisiest_rules",
    "query_history",
    "scan",
]

MAX_SCANNED = 1_000_000
"""Events an analytics query reads at most; narrow the time range to see further."""

_PAGE = 1000
_OPENED = TransitionKind.ALERT_OPENED.value
_UPDATED = TransitionKind.ALERT_UPDATED.value
_ACKNOWLEDGED = TransitionKind.ALERT_ACKNOWLEDGED.value
_RESOLVED = TransitionKind.ALERT_RESOLVED.value


async def scan(
    store: Store, query: EventQuery, *, max_events: int = MAX_SCANNED
) -> AsyncIterator[StoredEvent]:
    """Yield every event matching ``query`` (its ``limit`` ignored), page by page, in order."""
    since, seen = query.since_seq, 0
    while seen < max_events:
        page = await store.query_events(replace(query, since_seq=since, limit=_PAGE))
        for event in page:
            yield event
        seen += len(page)
        if len(page) < _PAGE:
            return
        since = page[-1].seq


async def query_history(store: Store, query: QueryHistory) -> HistoryPage:
    """Answer ``QueryHistory`` from the store; ``states`` filter on the payload's state."""
    kinds = tuple(kind.value for kind in query.kinds) or TRANSITION_KINDS
    base = EventQuery(
        since_seq=query.since_seq,
        start=query.start,
        end=query.end,
        kinds=kinds,
        rule_id=query.rule_id,
        alert_id=query.alert_id,
        fingerprint=query.fingerprint,
        labels=dict(query.labels),
        limit=query.limit,
    )
    states = {state.value for state in query.states}
    found: list[AlertTransition] = []
    last_seq = query.since_seq
    while True:
        page = await store.query_events(replace(base, since_seq=last_seq))
        for event in page:
            last_seq = event.seq
            if not states or event.payload.get("state") in states:
                found.append(transition(event.seq, event))
                if len(found) == query.limit:
                    return HistoryPage(events=tuple(found), last_seq=last_seq, more=True)
        if len(page) < base.limit:
            return HistoryPage(events=tuple(found), last_seq=last_seq, more=False)


def _lifecycle_query(start: float | None, rule_id: str | None) -> EventQuery:
    return EventQuery(start=start, kinds=(_OPENED, _ACKNOWLEDGED, _RESOLVED), rule_id=rule_id)


@dataclass(slots=True)
class _Tally:
    opened: int = 0
    acknowledged: int = 0
    resolved: int = 0
    manually_resolved: int = 0
    to_acknowledge: list[float] = field(default_factory=list)
    to_resolve: list[float] = field(default_factory=list)

    def stats(self, rule_id: str) -> RuleStats:
        return RuleStats(
            rule_id=rule_id,
            opened=self.opened,
            acknowledged=self.acknowledged,
            resolved=self.resolved,
            manually_resolved=self.manually_resolved,
            mean_time_to_acknowledge_s=_mean(self.to_acknowledge),
            mean_time_to_resolve_s=_mean(self.to_resolve),
        )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def alert_stats(events: Iterable[StoredEvent], query: QueryAlertStats) -> AlertStats:
    """Count the alerts opened in the query's range, and their mean times to ack/resolve.

    ``events``: opened/acknowledged/resolved events from ``query.start`` on, in order.
    """
    opened: dict[str, tuple[str, float]] = {}
    tallies: dict[str, _Tally] = {}
    total = _Tally()
    for event in events:
        if event.alert_id is None or event.rule_id is None:
            continue
        if event.kind == _OPENED:
            if query.end is not None and event.at >= query.end:
                continue
            opened[event.alert_id] = (event.rule_id, event.at)
            for tally in (tallies.setdefault(event.rule_id, _Tally()), total):
                tally.opened += 1
            continue
        known = opened.get(event.alert_id)
        if known is None:
            continue
        rule_id, opened_at = known
        for tally in (tallies[rule_id], total):
            if event.kind == _ACKNOWLEDGED:
                tally.acknowledged += 1
                tally.to_acknowledge.append(event.at - opened_at)
            else:
                tally.resolved += 1
                tally.manually_resolved += bool(event.payload.get("manual"))
                tally.to_resolve.append(event.at - opened_at)
    return AlertStats(
        rules=tuple(tallies[rule_id].stats(rule_id) for rule_id in sorted(tallies)),
        total=total.stats("*"),
    )


def flapping(events: Iterable[StoredEvent], query: QueryFlapping) -> FlappingReport:
    """Return the fingerprints that opened more than ``query.min_cycles`` times.

    ``events``: the opened events of the query's range, in order.
    """
    seen: dict[str, list[StoredEvent]] = {}
    for event in events:
        if event.kind == _OPENED and event.fingerprint is not None:
            seen.setdefault(event.fingerprint, []).append(event)
    found = [
        FlappingAlert(
            fingerprint=fingerprint,
            rule_id=openings[-1].rule_id or "",
            labels=dict(openings[-1].payload.get("labels") or {}),
            cycles=len(openings),
            first_opened_at=openings[0].at,
            last_opened_at=openings[-1].at,
        )
        for fingerprint, openings in seen.items()
        if len(openings) > query.min_cycles
    ]
    found.sort(key=lambda alert: (-alert.cycles, alert.fingerprint))
    return FlappingReport(alerts=tuple(found[: query.limit]))


def noisiest_rules(events: Iterable[StoredEvent], query: QueryNoisiestRules) -> NoisiestRules:
    """Return the rules that opened the most alerts (then sent most updates), most first.

    ``events``: the opened and updated events of the query's range.
    """
    opened: Counter[str] = Counter()
    updates: Counter[str] = Counter()
    for event in events:
        if event.rule_id is None:
            continue
        if event.kind == _OPENED:
            opened[event.rule_id] += 1
        elif event.kind == _UPDATED:
            updates[event.rule_id] += 1
    rules = sorted(set(opened) | set(updates), key=lambda r: (-opened[r], -updates[r], r))
    return NoisiestRules(
        rules=tuple(
            RuleCount(rule_id=rule, opened=opened[rule], updates=updates[rule])
            for rule in rules[: query.limit]
        )
    )


async def answer_stats(store: Store, query: QueryAlertStats) -> AlertStats:
    """Answer ``QueryAlertStats`` by scanning the store."""
    events = [e async for e in scan(store, _lifecycle_query(query.start, query.rule_id))]
    return alert_stats(events, query)


async def answer_flapping(store: Store, query: QueryFlapping) -> FlappingReport:
    """Answer ``QueryFlapping`` by scanning the store."""
    scope = EventQuery(start=query.start, end=query.end, kinds=(_OPENED,))
    return flapping([e async for e in scan(store, scope)], query)


async def answer_noisiest(store: Store, query: QueryNoisiestRules) -> NoisiestRules:
    """Answer ``QueryNoisiestRules`` by scanning the store."""
    scope = EventQuery(start=query.start, end=query.end, kinds=(_OPENED, _UPDATED))
    return noisiest_rules([e async for e in scan(store, scope)], query)


HISTORY_QUERIES: dict[type, Callable[[Store, Any], Coroutine[Any, Any, BaseModel]]] = {
    QueryHistory: query_history,
    QueryAlertStats: answer_stats,
    QueryFlapping: answer_flapping,
    QueryNoisiestRules: answer_noisiest,
}
"""Each history query type -> the coroutine function that answers it from the store."""
