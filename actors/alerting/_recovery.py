"""Recovery: rebuild the alert manager's book from the store's checkpoint and history."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from actors.alerting._analytics import scan
from actors.alerting._book import AlertBook, checkpoint_seq
from actors.alerting._config import AlertManagerConfig
from actors.alerting._subscriptions import TRANSITION_KINDS
from actors.store import EventQuery, Snapshot, Store

__all__ = ["Recovered", "recover"]


@dataclass(frozen=True, slots=True)
class Recovered:
    """What ``recover`` rebuilt: the book, the store's snapshot, the events replayed."""

    book: AlertBook
    snapshot: Snapshot
    replayed: int


async def recover(store: Store, config: AlertManagerConfig) -> Recovered:
    """Load the last checkpoint's documents and replay every event after it.

    Raises what the store raises. The replayed state is not checkpointed yet: write a
    checkpoint soon (``Journal.request_checkpoint``) so the next start replays less.
    """
    snapshot = await store.load()
    documents = snapshot.documents
    query = EventQuery(since_seq=checkpoint_seq(documents), kinds=TRANSITION_KINDS)
    history = [event async for event in scan(store, query, max_events=sys.maxsize)]
    book = AlertBook.restore(
        documents,
        history,
        inhibit_rules=config.inhibit_rules,
        max_resolved=config.max_resolved,
        max_ended_silences=config.max_ended_silences,
    )
    return Recovered(book, snapshot, len(history))
