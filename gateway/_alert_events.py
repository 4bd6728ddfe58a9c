"""AlertEvents: one subscription's alert transitions, as an async iterator."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway._filters import SubscriptionFilter
from gateway._view import AlertView
from messages import AlertSummary, AlertTransition
from supervision import Actor


class TransitionForwarder(Actor):
    """Put every transition it receives in a queue: the subscriber behind ``AlertEvents``.

    When it stops (the system stopped or gave up) it puts ``None``, which ends the
    iteration: without it a reader would wait forever for events that cannot come.
    """

    def __init__(self, queue: asyncio.Queue[AlertTransition | None]) -> None:
        self.queue = queue

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, AlertTransition):
            self.queue.put_nowait(message)
            return None
        return await super().on_receive(message)

    async def on_stop(self) -> None:
        self.queue.put_nowait(None)


class AlertEvents:
    """The events of one subscription, as an async iterator (see ``AlertSystem.subscribe``)."""

    def __init__(
        self,
        queue: asyncio.Queue[AlertTransition | None],
        view: AlertView,
        selected: SubscriptionFilter,
        after: int,
    ) -> None:
        self._queue = queue
        self._view = view
        self._selected = selected
        self._after = after
        self._ended = False
        self.snapshot: tuple[AlertSummary, ...] = view.snapshot(selected)
        """The open alerts the filter selected when the subscription started."""

    def __aiter__(self) -> AlertEvents:
        return self

    async def __anext__(self) -> AlertTransition:
        """Wait for the next matching event; stop iterating once the system stopped."""
        while not self._ended:
            transition = await self._queue.get()
            if transition is None:
                self._ended = True
                break
            if transition.seq <= self._after:
                continue
            self._after = transition.seq
            before, after = self._view.apply(transition)
            if self._selected.matches_change(before, after):
                return transition
        raise StopAsyncIteration
