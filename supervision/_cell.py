"""ActorCell: the runtime behind an ActorRef (mailbox, task, lifecycle, children)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog

from supervision._actor import Actor
from supervision._actor_task import run_incarnation
from supervision._cell_state import CellState
from supervision._deadletters import DeadLetter
from supervision._deathwatch import finalize
from supervision._errors import ActorDead, ActorStartError, ChildExists, MailboxFull
from supervision._messages import ChildExited
from supervision._ref import ActorRef, _Ask

if TYPE_CHECKING:
    from supervision._supervisor import ChildSpec
    from supervision._system import ActorSystem
    from supervision._timers import Timers

UNBOUNDED = sys.maxsize


class ActorCell:
    """Own one actor's mailbox and task, run its lifecycle, and report to its supervisor."""

    __slots__ = (
        "_log",
        "_terminated_waiters",
        "_timers",
        "accepting",
        "capacity",
        "children",
        "current_ask",
        "dormant",
        "factory",
        "incarnation",
        "instance",
        "last_start",
        "loop",
        "name",
        "parent",
        "path",
        "putters",
        "queue",
        "ref",
        "self_stop",
        "shutdown",
        "spec",
        "state",
        "stop_requested",
        "system",
        "task",
        "termination_error",
        "waiter",
        "watchers",
        "watching",
    )

    def __init__(
        self,
        system: ActorSystem,
        parent: ActorCell | None,
        name: str,
        factory: Callable[[], Actor],
        *,
        capacity: int | None = None,
        shutdown: float = 5.0,
        spec: ChildSpec | None = None,
    ) -> None:
        self.system = system
        self.parent = parent
        self.name = name
        if parent is None:
            self.path = "/"
        elif parent.path == "/":
            self.path = "/" + name
        else:
            self.path = parent.path + "/" + name
        self.factory = factory
        self.spec = spec
        self.capacity = UNBOUNDED if capacity is None else capacity
        self.shutdown = shutdown
        self.loop = asyncio.get_running_loop()
        self.queue: deque[object] = deque()
        self.waiter: asyncio.Future[None] | None = None
        # Created when a sender first waits for room: an empty deque is 760 bytes.
        self.putters: deque[asyncio.Future[None]] | None = None
        self.accepting = True
        self.state = CellState.NEW
        self.instance: Actor | None = None
        self.task: asyncio.Task[None] | None = None
        # Started with nothing to run yet: the task is created by the first message.
        self.dormant = False
        self.incarnation = 0
        self.last_start = 0.0
        self.stop_requested = False
        self.self_stop = False
        self.current_ask: _Ask | None = None
        self.children: dict[str, ActorCell] | None = None
        self.watchers: set[ActorCell] | None = None
        self.watching: set[ActorCell] | None = None
        self.termination_error: BaseException | None = None
        self._terminated_waiters: list[asyncio.Future[BaseException | None]] | None = None
        self._timers: Timers | None = None
        self._log: Any = None
        self.ref = ActorRef(self)

    def __repr__(self) -> str:
        return f"<ActorCell {self.path} {self.state.value}>"

    # -- accessors -------------------------------------------------------------------------

    @property
    def log(self) -> Any:
        """Return a structlog logger bound to this actor's path (created on first use)."""
        if self._log is None:
            self._log = structlog.get_logger("tocsin.actor").bind(actor=self.path)
        return self._log

    @property
    def timers(self) -> Timers:
        """Return this actor's timers (created on first use)."""
        if self._timers is None:
            from supervision._timers import Timers

            self._timers = Timers(self)
        return self._timers

    def child_cells(self) -> list[ActorCell]:
        """Return the child cells in start order."""
        return [] if self.children is None else list(self.children.values())

    # -- mailbox -----------------------------------------------------------------------------

    def reject(self, message: object) -> None:
        """Turn a message that cannot be queued into a dead letter (ask: fail it)."""
        if self.accepting:
            error: BaseException = MailboxFull(self.path, self.capacity)
            reason = "mailbox_full"
        else:
            error = ActorDead(self.path)
            reason = "dead"
        if isinstance(message, _Ask):
            if not message.future.done():
                message.future.set_exception(error)
            message = message.message
        self.dead_letter(message, reason, error if reason == "mailbox_full" else None)

    def dead_letter(self, message: object, reason: str, error: BaseException | None) -> None:
        """Publish ``message`` to the system's dead letters."""
        self.system.dead_letters.publish(
            DeadLetter(message, self.path, reason, error, self.system.clock.time())
        )

    async def wait_for_room(
        self, timeout: float | None, linked: asyncio.Future[Any] | None = None
    ) -> None:
        """Wait until the bounded mailbox has room, in arrival order.

        Raises MailboxFull after ``timeout`` seconds, ActorDead if the actor terminates,
        and the exception of ``linked`` (an ask's reply future) if that completes first.
        """
        while len(self.queue) >= self.capacity:
            putter: asyncio.Future[None] = self.loop.create_future()
            putters = self.putters
            if putters is None:
                putters = self.putters = deque()
            putters.append(putter)
            handle = None
            if timeout is not None:

                def expire(putter: asyncio.Future[None] = putter) -> None:
                    if not putter.done():
                        putter.set_exception(MailboxFull(self.path, self.capacity))

                handle = self.system.clock.call_later(timeout, expire)

            def forward(done: asyncio.Future[Any], putter: asyncio.Future[None] = putter) -> None:
                if not putter.done() and not done.cancelled():
                    error = done.exception()
                    if error is not None:
                        putter.set_exception(error)

            if linked is not None:
                linked.add_done_callback(forward)
            try:
                await putter
            finally:
                if handle is not None:
                    handle.cancel()
                if linked is not None:
                    linked.remove_done_callback(forward)
                with contextlib.suppress(ValueError):
                    putters.remove(putter)
            if not self.accepting:
                raise ActorDead(self.path)

    def _release_putter(self) -> None:
        for putter in self.putters or ():
            if not putter.done():
                putter.set_result(None)
                return

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(None)
        elif self.dormant:
            self.rouse()

    def rouse(self) -> None:
        """Create the task of a dormant actor: its first message has arrived."""
        instance = self.instance
        if not self.dormant or instance is None:
            return
        self.dormant = False
        self.task = self.loop.create_task(run_incarnation(self, instance, None), name=self.path)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Create a fresh instance and run its ``on_start``; raise ActorStartError.

        Returns once ``on_start`` has completed and the actor is processing its mailbox.
        """
        if self.state not in (CellState.NEW, CellState.STOPPED):
            raise RuntimeError(f"cannot start {self.path} in state {self.state.value}")
        self.incarnation += 1
        self.stop_requested = False
        self.self_stop = False
        self.last_start = self.system.clock.now()
        try:
            instance = self.factory()
        except Exception as error:
            self.state = CellState.STOPPED
            raise ActorStartError(self.path, error) from error
        instance._cell = self
        self.instance = instance
        self.state = CellState.STARTING
        cls = type(instance)
        if cls.on_start is Actor.on_start and cls.on_stop is Actor.on_stop:
            # Nothing to run until a message arrives: no task, coroutine or future yet, so
            # an idle actor costs a cell, a ref, a deque and its instance (100k start fast).
            self.state = CellState.RUNNING
            self.dormant = True
            if self.queue:
                self.rouse()
            return
        started: asyncio.Future[None] = self.loop.create_future()
        self.task = self.loop.create_task(run_incarnation(self, instance, started), name=self.path)
        await started

    def _stopped(self, instance: Actor | None) -> None:
        if self._timers is not None:
            self._timers.cancel_all()
        self.instance = None
        self.current_ask = None
        if self.state is not CellState.DEAD:
            self.state = CellState.STOPPED

    def _exited(self, error: BaseException | None) -> None:
        if self.parent is None:
            self.system._root_exited(error)
        else:
            self.parent.tell_system(ChildExited(self, self.incarnation, error))

    def tell_system(self, message: object) -> None:
        """Queue a runtime message, ignoring the mailbox bound."""
        if not self.accepting:
            return
        self.queue.append(message)
        self._wake()

    def request_self_stop(self) -> None:
        """Stop after the current message, as a normal exit the supervisor hears about."""
        self.self_stop = True
        self.stop_requested = True

    async def stop(self) -> None:
        """Stop the running instance, keeping the mailbox for a restart.

        The current message finishes, then ``on_stop`` runs; if both take longer than the
        cell's shutdown timeout (system clock), the task is cancelled.
        """
        if self.dormant:
            # Never ran: no current message and no on_stop to wait for.
            self.dormant = False
            self._stopped(self.instance)
            return
        task = self.task
        if task is None or task.done():
            self.task = None
            return
        if asyncio.current_task() is task:
            self.stop_requested = True
            return
        self.stop_requested = True
        self._wake()

        def kill() -> None:
            if not task.done():
                self.log.warning("shutdown timeout: cancelling", timeout=self.shutdown)
                task.cancel()

        handle = self.system.clock.call_later(self.shutdown, kill)
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            handle.cancel()
        if not task.cancelled() and task.exception() is not None:
            self.log.error("actor task ended with an error", exc_info=task.exception())
        self.task = None
        if self.state is not CellState.DEAD:
            self.state = CellState.STOPPED

    async def terminate(self, error: BaseException | None = None) -> None:
        """Stop for good: stop the task, then the children, then fail what is queued.

        Asks still queued or waiting for room fail with ActorDead; other queued messages
        become dead letters; watchers receive ``Terminated``. Idempotent.
        """
        if self.state is CellState.DEAD:
            return
        self.accepting = False
        await self.stop()
        for child in reversed(self.child_cells()):
            await child.terminate()
        finalize(self, error)

    async def wait_terminated(self) -> BaseException | None:
        """Wait until this cell is DEAD; return the error that ended it."""
        if self.state is CellState.DEAD:
            return self.termination_error
        if self._terminated_waiters is None:
            self._terminated_waiters = []
        waiter: asyncio.Future[BaseException | None] = self.loop.create_future()
        self._terminated_waiters.append(waiter)
        return await waiter

    # -- children -----------------------------------------------------------------------------

    def add_child(self, spec: ChildSpec) -> ActorCell:
        """Create (not start) a child cell from ``spec`` and register its path."""
        if self.children is None:
            self.children = {}
        if spec.name in self.children:
            raise ChildExists(self.children[spec.name].path)
        child = ActorCell(
            self.system,
            self,
            spec.name,
            spec.factory,
            capacity=spec.mailbox_size,
            shutdown=spec.shutdown,
            spec=spec,
        )
        self.children[spec.name] = child
        self.system._register(child)
        return child
