"""ActorRef: the stable handle through which everyone talks to an actor."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any

from supervision._errors import ActorDead, AskTimeout, MailboxFull

if TYPE_CHECKING:
    from supervision._cell import ActorCell


class _Ask:
    """A message that wants a reply in ``future``."""

    __slots__ = ("future", "message")

    def __init__(self, message: object, future: asyncio.Future[Any]) -> None:
        self.message = message
        self.future = future


class ActorRef:
    """A handle to an actor that stays valid across its restarts.

    A restart swaps the instance behind the ref; the mailbox and everything queued in it
    survive. Only termination (the supervisor gave up, or the actor was removed) makes the
    ref dead: messages then go to dead letters and asks raise ``ActorDead``.
    """

    __slots__ = ("_cell", "name", "path")

    def __init__(self, cell: ActorCell) -> None:
        self._cell = cell
        self.path = cell.path
        self.name = cell.name

    def __repr__(self) -> str:
        return f"<ActorRef {self.path}>"

    def tell(self, message: object) -> None:
        """Queue ``message`` and return at once; never blocks, never raises.

        If the actor is dead, or its bounded mailbox is full, the message becomes a dead
        letter (reason ``"dead"`` or ``"mailbox_full"``). Use ``send`` to wait for room.
        """
        cell = self._cell
        queue = cell.queue
        if cell.accepting and len(queue) < cell.capacity:
            queue.append(message)
            # ActorCell._wake inlined: tell is the hottest call in the runtime.
            waiter = cell.waiter
            if waiter is not None:
                if not waiter.done():
                    waiter.set_result(None)
            elif cell.dormant:
                cell.rouse()
        else:
            cell.reject(message)

    def tell_system(self, message: object) -> None:
        """Queue a control message past the mailbox bound; never blocks, never raises.

        For the few messages that steer an actor (route changes, configuration, death
        watch) and must neither wait behind nor be refused by a bounded mailbox that
        producers keep full: as the runtime's own messages are (Akka's system messages,
        OTP's ``sys`` messages). The message keeps its place in the order: it is handled
        after what is already queued, before what comes later. Do not use it for data:
        it defeats the bound. A dead actor turns it into a dead letter (reason ``"dead"``).
        """
        cell = self._cell
        if cell.accepting:
            cell.tell_system(message)
        else:
            cell.reject(message)

    async def send(self, message: object, timeout: float | None = None) -> None:
        """Queue ``message``, waiting for room in a bounded mailbox (backpressure).

        Raises ``MailboxFull`` if no room appeared within ``timeout`` seconds (of the
        system's clock) and ``ActorDead`` if the actor is or becomes dead. Waiting senders
        are served in order.
        """
        cell = self._cell
        if not cell.accepting:
            raise ActorDead(self.path)
        if len(cell.queue) >= cell.capacity:
            await cell.wait_for_room(timeout)
        cell.queue.append(message)
        cell._wake()

    async def ask(self, message: object, timeout: float | None = 5.0) -> Any:
        """Send ``message`` and wait for the reply.

        The reply is the handler's return value, or what it passed to the ``Reply`` from
        ``defer_reply``. If the handler raises, the same exception is raised here (and the
        actor goes through its supervisor). Raises ``AskTimeout`` after ``timeout`` seconds
        of the system's clock and ``ActorDead`` if the actor is dead or terminates before
        handling the message. Waits for room in a full bounded mailbox.
        """
        cell = self._cell
        if not cell.accepting:
            raise ActorDead(self.path)
        future: asyncio.Future[Any] = cell.loop.create_future()
        handle = None
        if timeout is not None:

            def expire() -> None:
                if not future.done():
                    future.set_exception(AskTimeout(self.path, timeout))

            handle = cell.system.clock.call_later(timeout, expire)
        try:
            if len(cell.queue) >= cell.capacity:
                await cell.wait_for_room(None, future)
            cell.queue.append(_Ask(message, future))
            cell._wake()
            return await future
        finally:
            if handle is not None:
                handle.cancel()

    def is_alive(self) -> bool:
        """Return True unless the actor has terminated for good."""
        return self._cell.accepting

    async def wait_terminated(self) -> BaseException | None:
        """Wait until the actor terminates for good; return the error that ended it."""
        return await self._cell.wait_terminated()

    def mailbox_size(self) -> int:
        """Return how many messages are queued."""
        return len(self._cell.queue)

    def restarts(self) -> int:
        """Return how many times the actor was started again after its first start."""
        return max(0, self._cell.incarnation - 1)

    def mailbox_capacity(self) -> int | None:
        """Return the bound of the mailbox (None: unbounded)."""
        capacity = self._cell.capacity
        return None if capacity == sys.maxsize else capacity


__all__ = ["ActorRef", "MailboxFull"]
