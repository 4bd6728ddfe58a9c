"""ManagerReads: what the alert manager answers without changing an alert.

Subscriptions to its transitions (``Subscribe``, ``Unsubscribe``, a subscriber's
``Terminated``), its ``GetStatus`` and the history queries, with the owned tasks that
catch subscribers up and answer from the store. ``AlertManager`` is the actor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from pydantic import BaseModel

from actors.alerting._analytics import HISTORY_QUERIES
from actors.alerting._book import AlertBook
from actors.alerting._dispatch import NotificationPlanner
from actors.alerting._errors import unavailable
from actors.alerting._journal import Journal
from actors.alerting._requests import (
    GetStatus,
    ManagerStatus,
    Subscribe,
    Subscribed,
    Unsubscribe,
)
from actors.alerting._subscriptions import Subscriptions
from actors.store import Store
from messages import ErrorReply
from supervision import Actor, Terminated

__all__ = ["ManagerReads"]


class ManagerReads(Actor):
    """The alert manager's subscriptions, status and history queries, for ``AlertManager``.

    A base class, not a component: ``AlertManager`` binds these handlers and keeps
    ``_store``, ``_book``, ``_planner``, ``_journal``, ``_subscriptions`` and ``_tasks``
    (the tasks ``_spawn`` starts; its ``on_stop`` ends them).
    """

    _store: Store
    _book: AlertBook
    _planner: NotificationPlanner
    _journal: Journal
    _subscriptions: Subscriptions
    _tasks: set[asyncio.Task[None]]

    # -- history and status --------------------------------------------------------------------

    def _on_history(self, query: Any) -> None:
        self._spawn_answer(HISTORY_QUERIES[type(query)](self._store, query))

    def _on_status(self, _query: GetStatus) -> None:
        reply = self.defer_reply()
        if not reply.wanted:
            return

        def answer(seq: int) -> None:
            reply.set(
                ManagerStatus(
                    last_seq=seq,
                    open_alerts=len(self._book.open_alerts()),
                    alerts=len(self._book),
                    silences=len(self._book.silences(self.clock.time())),
                    escalations=len(self._planner.escalations),
                    subscribers=len(self._subscriptions),
                    batches=self._journal.batches,
                )
            )

        self._journal.after(answer, lambda error: reply.set(unavailable(error)))

    # -- subscriptions -------------------------------------------------------------------------

    def _on_subscribe(self, request: Subscribe) -> Any:
        resume_from = request.resume_from
        if resume_from is not None and not 0 <= resume_from <= self._journal.last_seq:
            return ErrorReply(
                code="invalid",
                message=f"cannot resume from {resume_from}: the last seq is "
                f"{self._journal.last_seq}",
                field="resume_from",
            )
        self.watch(request.subscriber)
        if resume_from is not None:
            subscriber = self._subscriptions.add(request.subscriber, resume_from)
            self._spawn(self._subscriptions.catch_up(subscriber, self._store, self._journal))
            return Subscribed(seq=resume_from)
        subscriber = self._subscriptions.add(request.subscriber, None)
        alerts = tuple(a.summary() for a in self._book.query()) if request.snapshot else ()
        reply = self.defer_reply()

        def start(seq: int) -> None:
            subscriber.cursor = seq
            subscriber.live = True
            reply.set(Subscribed(seq=seq, alerts=alerts))

        def failed(error: BaseException) -> None:
            self._subscriptions.remove(request.subscriber)
            reply.set(unavailable(error))

        self._journal.after(start, failed)
        return None

    def _on_unsubscribe(self, request: Unsubscribe) -> bool:
        self.unwatch(request.subscriber)
        self._subscriptions.remove(request.subscriber)
        return True

    def _on_terminated(self, message: Terminated) -> None:
        self._subscriptions.remove(message.ref)

    # -- owned tasks ---------------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _spawn_answer(self, coroutine: Coroutine[Any, Any, BaseModel]) -> None:
        reply = self.defer_reply()

        async def answer() -> None:
            try:
                reply.set(await coroutine)
            except Exception as error:
                self.log.exception("query failed")
                reply.set(unavailable(error))

        self._spawn(answer())
