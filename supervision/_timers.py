"""Timers owned by an actor: send me X after d, or every d; cancelled on stop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from supervision._clock import Cancellable

if TYPE_CHECKING:
    from supervision._cell import ActorCell


class _Timed:
    """A message queued by a timer; dropped from the mailbox when its instance stops."""

    __slots__ = ("message",)

    def __init__(self, message: object) -> None:
        self.message = message


class Timers:
    """Schedule messages to the owning actor through the system clock.

    Keys name timers: starting a timer with a key that is active replaces it. Every timer
    is cancelled when the instance stops (a restart starts with none), so a message from
    an old instance's timer never reaches the new one.
    """

    def __init__(self, cell: ActorCell) -> None:
        self._cell = cell
        self._active: dict[object, Cancellable] = {}

    def __len__(self) -> int:
        return len(self._active)

    def is_active(self, key: object) -> bool:
        """Return True if the timer ``key`` is scheduled."""
        return key in self._active

    def send_after(self, delay: float, message: object, key: object = None) -> object:
        """Tell ``message`` to this actor once, ``delay`` seconds from now; return the key."""
        key = object() if key is None else key
        self.cancel(key)
        cell = self._cell

        def fire() -> None:
            self._active.pop(key, None)
            self._deliver(message)

        self._active[key] = cell.system.clock.call_later(delay, fire)
        return key

    def send_every(
        self,
        interval: float,
        message: object,
        key: object = None,
        *,
        initial_delay: float | None = None,
    ) -> object:
        """Tell ``message`` to this actor every ``interval`` seconds; return the key.

        Fixed delay: the next tick is scheduled when one fires.
        """
        if interval <= 0:
            raise ValueError(f"interval must be > 0, got {interval}")
        key = object() if key is None else key
        self.cancel(key)
        cell = self._cell
        clock = cell.system.clock

        def fire() -> None:
            if key not in self._active:
                return
            self._active[key] = clock.call_later(interval, fire)
            self._deliver(message)

        first = interval if initial_delay is None else initial_delay
        self._active[key] = clock.call_later(first, fire)
        return key

    def cancel(self, key: object) -> bool:
        """Cancel the timer ``key``; return whether it was active."""
        handle = self._active.pop(key, None)
        if handle is None:
            return False
        handle.cancel()
        return True

    def cancel_all(self) -> None:
        """Cancel every timer of this actor and drop the messages they queued (unhandled).

        The runtime calls it when the instance stops, so a restart starts with none.
        """
        active, self._active = self._active, {}
        for handle in active.values():
            handle.cancel()
        cell = self._cell
        queue = cell.queue
        if any(m.__class__ is _Timed for m in queue):
            kept = [m for m in queue if m.__class__ is not _Timed]
            dropped = len(queue) - len(kept)
            queue.clear()
            queue.extend(kept)
            for _ in range(dropped):
                cell._release_putter()

    def _deliver(self, message: object) -> None:
        # As ``tell``, but marked so that cancel_all can take it back out of the mailbox.
        cell = self._cell
        if cell.accepting and len(cell.queue) < cell.capacity:
            cell.queue.append(_Timed(message))
            cell._wake()
        else:
            cell.reject(message)
