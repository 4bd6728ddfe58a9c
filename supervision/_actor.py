"""Actor: the base class of everything that runs in the tree."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from supervision._clock import Clock
from supervision._deathwatch import unwatch, watch

if TYPE_CHECKING:
    from supervision._cell import ActorCell
    from supervision._ref import ActorRef
    from supervision._system import ActorSystem
    from supervision._timers import Timers


class Reply:
    """The reply to an ask, answered later (see ``Actor.defer_reply``).

    A Reply for a message that was told (not asked) accepts answers and drops them.
    """

    __slots__ = ("_future",)

    def __init__(self, future: asyncio.Future[Any] | None) -> None:
        self._future = future

    def set(self, value: object = None) -> None:
        """Answer the ask with ``value``; later answers are ignored."""
        if self._future is not None and not self._future.done():
            self._future.set_result(value)

    def fail(self, error: BaseException) -> None:
        """Make the ask raise ``error`` in the caller, without crashing the actor."""
        if self._future is not None and not self._future.done():
            self._future.set_exception(error)

    @property
    def wanted(self) -> bool:
        """Return True while somebody is waiting for this reply."""
        return self._future is not None and not self._future.done()


class Actor:
    """Subclass and override the async hooks; the runtime calls them one at a time.

    Lifecycle of one instance: ``on_start``, then ``on_receive`` once per message in
    mailbox order, then ``on_stop``. A restart creates a new instance (from the child
    spec's factory) behind the same ``ActorRef``, after the old instance's ``on_stop``
    has completed. Failure outcomes (documented in docs/RUNTIME.md):

    - ``on_start`` raises: ``on_stop`` is not called; the starter gets ``ActorStartError``
      (first start) or the supervisor counts a failed restart.
    - ``on_receive`` raises: the message goes to dead letters with the error (an asker
      gets the same exception), ``on_failure`` then ``on_stop`` run, and the supervisor
      decides: restart, terminate or escalate.
    - ``on_stop`` or ``on_failure`` raises: logged; the stop completes.
    - ``KeyboardInterrupt``/``SystemExit`` (from any hook): ``on_stop`` runs, then the whole
      system shuts down in order and ``ActorSystem.wait_terminated`` raises ``SystemFailed``;
      an asker of the message gets ``ActorDead`` from it, never the error itself.
    """

    _cell: ActorCell

    async def on_start(self) -> None:
        """Prepare the actor; messages wait in the mailbox until this returns."""

    async def on_stop(self) -> None:
        """Release what the instance holds; runs after the last message it handled."""

    async def on_failure(self, error: BaseException, message: object) -> None:
        """React to the crash of this instance; ``on_stop`` runs right after."""

    async def on_receive(self, message: Any) -> Any:
        """Handle one message; for an ask, the return value is the reply.

        The default records the message as an ``"unhandled"`` dead letter.
        """
        self._cell.dead_letter(message, "unhandled", None)
        return None

    # -- what the runtime gives the instance ----------------------------------------------------

    @property
    def ref(self) -> ActorRef:
        """Return this actor's stable ref."""
        return self._cell.ref

    @property
    def path(self) -> str:
        """Return this actor's path in the tree, e.g. ``/alerting/alert-manager``."""
        return self._cell.path

    @property
    def system(self) -> ActorSystem:
        """Return the system this actor runs in."""
        return self._cell.system

    @property
    def clock(self) -> Clock:
        """Return the system's injected clock."""
        return self._cell.system.clock

    @property
    def log(self) -> Any:
        """Return a structlog logger with ``actor=<path>`` bound."""
        return self._cell.log

    @property
    def timers(self) -> Timers:
        """Return this instance's timers; all are cancelled when it stops."""
        return self._cell.timers

    def watch(self, ref: ActorRef) -> None:
        """Receive ``Terminated(ref)`` when ``ref`` terminates for good (at once if dead)."""
        watch(self._cell, ref._cell)

    def unwatch(self, ref: ActorRef) -> None:
        """Stop watching ``ref``."""
        unwatch(self._cell, ref._cell)

    def stop(self) -> None:
        """Stop after the current message, as a normal exit.

        The supervisor restarts a permanent child even after a normal exit (as OTP) and
        terminates transient and temporary ones.
        """
        self._cell.request_self_stop()

    def defer_reply(self) -> Reply:
        """Answer the current ask later instead of with the return value.

        Call inside ``on_receive``; the handler's return value is then ignored. Use it to
        reply after an await elsewhere has finished (e.g. once an event is durable).
        """
        cell = self._cell
        ask = cell.current_ask
        cell.current_ask = None
        return Reply(None if ask is None else ask.future)
