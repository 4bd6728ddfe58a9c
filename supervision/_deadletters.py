"""Dead letters: messages that could not be delivered or crashed their actor."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

import structlog

_log = structlog.get_logger("tocsin.dead_letters")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message that reached no handler, with why.

    ``reason`` is one of ``"dead"`` (the recipient had terminated), ``"stopped"`` (still
    queued when the recipient terminated), ``"mailbox_full"`` (a ``tell`` found a bounded
    mailbox full), ``"crashed"`` (the handler raised; ``error`` holds the exception) and
    ``"unhandled"`` (the actor's ``on_receive`` did not handle it).
    """

    message: object
    recipient: str
    reason: str
    error: BaseException | None
    at: float


class DeadLetters:
    """Count, keep the most recent, and publish dead letters to subscribers."""

    def __init__(self, keep: int = 1000) -> None:
        self.count = 0
        self.by_reason: Counter[str] = Counter()
        self._recent: deque[DeadLetter] = deque(maxlen=keep)
        self._subscribers: list[Callable[[DeadLetter], None]] = []

    def publish(self, letter: DeadLetter) -> None:
        """Record ``letter`` and hand it to every subscriber.

        A subscriber that raises is logged and keeps its subscription.
        """
        self.count += 1
        self.by_reason[letter.reason] += 1
        self._recent.append(letter)
        for subscriber in tuple(self._subscribers):
            try:
                subscriber(letter)
            except Exception:
                _log.exception("dead letter subscriber failed", recipient=letter.recipient)

    def recent(self) -> list[DeadLetter]:
        """Return the most recent dead letters, oldest first."""
        return list(self._recent)

    def subscribe(self, callback: Callable[[DeadLetter], None]) -> Callable[[], None]:
        """Call ``callback`` for every future dead letter; return the unsubscribe function."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe
