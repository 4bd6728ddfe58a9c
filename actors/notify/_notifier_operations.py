"""What operators ask a notifier: its dead letters (list, replay) and its status.

``NotifierOperations`` is a base class of ``Notifier`` (actors/notify/_notifier.py): these
handlers read the state the notifier keeps and queue through it; none is on the path of
a notification.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.notify._outbox import OutboxRecord, outbox_key
from actors.notify._outbox_writer import OutboxWriter
from actors.notify._requests import (
    DeadLetterInfo,
    DeadLetterNotFound,
    GetNotifierStatus,
    ListDeadLetters,
    NotifierStatus,
    ReplayDeadLetter,
    Replayed,
)
from actors.notify._scheduler import DeliveryScheduler
from messages import Notification
from supervision import Actor

__all__ = ["NotifierOperations"]


class NotifierOperations(Actor):
    """Answer ``ListDeadLetters``, ``ReplayDeadLetter`` and ``GetNotifierStatus``.

    The subclass (``Notifier``) sets these attributes and provides ``_queue`` and
    ``_pump``; it routes the requests here from its handler table.
    """

    receiver: str
    _dead: dict[str, OutboxRecord]
    _scheduler: DeliveryScheduler
    _writer: OutboxWriter
    _delivered: int
    _failed_attempts: int
    _log: Any
    _queue: Callable[[Notification, str], None]
    _pump: Callable[[], None]

    def _list_dead_letters(self, _request: ListDeadLetters) -> tuple[DeadLetterInfo, ...]:
        records = sorted(self._dead.values(), key=lambda r: (r.dead_at or 0.0, r.order))
        return tuple(
            DeadLetterInfo(
                self.receiver, r.notification, r.attempts, r.error or "", r.dead_at or 0.0
            )
            for r in records
        )

    def _replay(self, request: ReplayDeadLetter) -> Replayed | None:
        if request.notification_id is None:
            records = sorted(self._dead.values(), key=lambda r: (r.dead_at or 0.0, r.order))
        else:
            record = self._dead.get(outbox_key(self.receiver, request.notification_id))
            if record is None:
                self.defer_reply().fail(DeadLetterNotFound(self.receiver, request.notification_id))
                return None
            records = [record]
        for record in records:
            del self._dead[record.key]
            self._queue(record.notification, record.key)
        self._log.info("dead letters replayed", count=len(records))
        self._pump()
        return Replayed(self.receiver, tuple(r.notification.id for r in records))

    def _status(self, _request: GetNotifierStatus) -> NotifierStatus:
        scheduler = self._scheduler
        return NotifierStatus(
            receiver=self.receiver,
            queued=len(scheduler),
            in_flight=scheduler.in_flight,
            circuit=scheduler.breaker.state,
            dead_letters=len(self._dead),
            delivered=self._delivered,
            failed_attempts=self._failed_attempts,
            outbox_appends=self._writer.appends,
        )
