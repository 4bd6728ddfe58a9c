"""EventQuery, twice: as SQL for SqliteStore and as a predicate for MemoryStore.

Both read the same fields the same way, and the behavioural tests run every filter
against both stores, so a query means one thing whichever store answers it.
"""

from __future__ import annotations

from collections.abc import Mapping

from actors.store._api import EventQuery, StoredEvent

_COLUMNS = "seq, kind, at, alert_id, fingerprint, rule_id, payload"


def check_query(query: EventQuery) -> None:
    """Raise ValueError if ``query`` cannot be answered (a negative limit or since_seq)."""
    if query.limit < 0:
        raise ValueError(f"EventQuery.limit must be >= 0, not {query.limit}")
    if query.since_seq < 0:
        raise ValueError(f"EventQuery.since_seq must be >= 0, not {query.since_seq}")


def query_sql(query: EventQuery) -> tuple[str, list[object]]:
    """Return the SELECT (and its parameters) answering ``query`` from the events table."""
    clauses = ["seq > ?"]
    params: list[object] = [query.since_seq]
    if query.start is not None:
        clauses.append("at >= ?")
        params.append(query.start)
    if query.end is not None:
        clauses.append("at < ?")
        params.append(query.end)
    if query.kinds:
        clauses.append(f"kind IN ({', '.join('?' * len(query.kinds))})")
        params.extend(query.kinds)
    for column in ("rule_id", "alert_id", "fingerprint"):
        value = getattr(query, column)
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    for name, value in query.labels.items():
        # json_each rather than a '$.labels.name' path: a label name may hold any character
        # (a quote or a dot would break a path) and json_each compares the key as given.
        clauses.append(
            "EXISTS (SELECT 1 FROM json_each(events.payload, '$.labels') AS label"
            " WHERE label.key = ? AND label.type = 'text' AND label.value = ?)"
        )
        params.extend((name, value))
    params.append(query.limit)
    where = " AND ".join(clauses)
    return f"SELECT {_COLUMNS} FROM events WHERE {where} ORDER BY seq LIMIT ?", params


def matches(query: EventQuery, event: StoredEvent) -> bool:
    """Return True if ``event`` passes every filter of ``query`` (``limit`` aside)."""
    if event.seq <= query.since_seq:
        return False
    if query.start is not None and not event.at >= query.start:
        return False
    if query.end is not None and not event.at < query.end:
        return False
    if query.kinds and event.kind not in query.kinds:
        return False
    if query.rule_id is not None and event.rule_id != query.rule_id:
        return False
    if query.alert_id is not None and event.alert_id != query.alert_id:
        return False
    if query.fingerprint is not None and event.fingerprint != query.fingerprint:
        return False
    if query.labels:
        labels = event.payload.get("labels")
        if not isinstance(labels, Mapping):
            return False
        for name, value in query.labels.items():
            found = labels.get(name)
            if not isinstance(found, str) or found != value:
                return False
    return True
