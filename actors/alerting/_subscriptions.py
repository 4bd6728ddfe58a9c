"""Subscriptions to the alert manager's transitions: in order, resumable, outliving restarts."""

from __future__ import annotations

from collections.abc import Iterator

from actors.alerting._journal import Journal
from actors.store import EventQuery, NewEvent, Store, StoredEvent
from messages import AlertTransition, TransitionKind
from supervision import ActorRef

__all__ = ["TRANSITION_KINDS", "Subscriber", "Subscriptions", "transition"]

TRANSITION_KINDS: tuple[str, ...] = tuple(kind.value for kind in TransitionKind)
"""Every event kind the alert manager appends (other writers may share the store)."""

_CATCH_UP_PAGE = 500


class Subscriber:
    """One subscription: who, the last seq told (None until known), and whether live."""

    __slots__ = ("cursor", "live", "ref")

    def __init__(self, ref: ActorRef, cursor: int | None) -> None:
        self.ref = ref
        self.cursor = cursor
        self.live = False  # False while waiting for its first seq or catching up


class Subscriptions:
    """The subscribers of one alert manager and how far each has been told.

    It belongs to the manager's child spec, not to an instance (``alert_manager_spec``
    creates one), so a restarted manager knows its subscribers and replays to each
    what it missed after the last seq it was told.
    """

    def __init__(self) -> None:
        self._subscribers: dict[ActorRef, Subscriber] = {}

    def __len__(self) -> int:
        return len(self._subscribers)

    def __iter__(self) -> Iterator[Subscriber]:
        return iter(list(self._subscribers.values()))

    def add(self, ref: ActorRef, cursor: int | None) -> Subscriber:
        """Register (or replace) ``ref``'s subscription; not live yet."""
        subscriber = Subscriber(ref, cursor)
        self._subscribers[ref] = subscriber
        return subscriber

    def remove(self, ref: ActorRef) -> bool:
        """Forget ``ref``'s subscription; return whether it had one."""
        return self._subscribers.pop(ref, None) is not None

    def resume(self) -> list[Subscriber]:
        """Return the subscriptions a new manager instance must catch up, not live yet.

        One whose ``Subscribe`` was never answered (its seq unknown) is dropped.
        """
        resumed = []
        for subscriber in list(self._subscribers.values()):
            if subscriber.cursor is None:
                self.remove(subscriber.ref)
            else:
                subscriber.live = False
                resumed.append(subscriber)
        return resumed

    def is_current(self, subscriber: Subscriber) -> bool:
        """Return whether ``subscriber`` is still the registered subscription of its ref."""
        return self._subscribers.get(subscriber.ref) is subscriber

    def deliver(self, committed: list[tuple[int, NewEvent]]) -> None:
        """Tell every live subscriber the committed events after its cursor, in order."""
        live = [s for s in self._subscribers.values() if s.live]
        if not live:
            return
        transitions = [(seq, transition(seq, event)) for seq, event in committed]
        for subscriber in live:
            cursor = subscriber.cursor or 0
            tell = subscriber.ref.tell
            for seq, message in transitions:
                if seq > cursor:
                    tell(message)
                    cursor = seq
            subscriber.cursor = cursor

    async def catch_up(self, subscriber: Subscriber, store: Store, journal: Journal) -> None:
        """Replay the durable events after ``subscriber.cursor`` from ``store``, then go live.

        Pages until a short page shows nothing durable is left behind and nothing was
        committed while it was read; it goes live with no await in between, so events
        committed meanwhile are found by the next query: no gap, no duplicate.
        """
        while self.is_current(subscriber):
            bound = journal.last_seq
            query = EventQuery(
                since_seq=subscriber.cursor or 0, kinds=TRANSITION_KINDS, limit=_CATCH_UP_PAGE
            )
            page = await store.query_events(query)
            if not self.is_current(subscriber):
                return
            for event in page:
                subscriber.ref.tell(transition(event.seq, event))
                subscriber.cursor = event.seq
            if len(page) < _CATCH_UP_PAGE and journal.last_seq == bound:
                subscriber.live = True
                return


def transition(seq: int, event: NewEvent | StoredEvent) -> AlertTransition:
    """Return the ``AlertTransition`` message of one durable event."""
    return AlertTransition(
        seq=seq,
        kind=TransitionKind(event.kind),
        at=event.at,
        alert_id=event.alert_id,
        fingerprint=event.fingerprint,
        rule_id=event.rule_id,
        payload=dict(event.payload),
    )
