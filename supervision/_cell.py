"""ActorCell: the runtime behind an ActorRef (mailbox, task, lifecycle, children)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

import structlog

from supervision._actor import Actor
from supervision._deadletters import DeadLetter
from supervision._errors import ActorCrashed, ActorDead, ActorStartError, ChildExists, MailboxFull
from supervision._faults import CrashOrder, InjectedFault
from supervision._messages import Terminated
from supervision._ref import ActorRef, _Ask
from supervision._timers import _Timed

if TYPE_CHECKING:
    from supervision._supervisor import ChildSpec
    from supervision._system import ActorSystem
    from supervision._timers import Timers

# Messages handled before yielding to the event loop when the mailbox stays non-empty, so
# that one busy actor cannot starve the others (Akka's "throughput" setting).
THROUGHPUT = 300
UNBOUNDED = sys.maxsize


class CellState(Enum):
    """Where an actor is in its life. STOPPED can be restarted; DEAD is final."""

    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"
    DEAD = "dead"


class ChildExited:
    """Sent by a child cell to its supervisor: the instance ended on its own.

    ``error`` is None after a normal self-stop. ``incarnation`` lets the supervisor ignore
    news about an instance it has already replaced.
    """

    __slots__ = ("cell", "error", "incarnation")

    def __init__(self, cell: ActorCell, incarnation: int, error: BaseException | None) -> None:
        self.cell = cell
        self.incarnation = incarnation
        self.error = error

    def __repr__(self) -> str:
        return f"ChildExited({self.cell.path}, {self.incarnation}, {self.error!r})"


def _is_fatal(error: BaseException) -> bool:
    # KeyboardInterrupt, SystemExit and friends shut the whole system down; an unrequested
    # CancelledError raised inside a handler is an ordinary failure.
    return not isinstance(error, Exception | asyncio.CancelledError)


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
        self.task = self.loop.create_task(self._run(instance, None), name=self.path)

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
        self.task = self.loop.create_task(self._run(instance, started), name=self.path)
        await started

    async def _run(self, instance: Actor, started: asyncio.Future[None] | None) -> None:
        if started is not None:
            try:
                await instance.on_start()
            except BaseException as start_error:
                self._start_failed(start_error, started)
                if isinstance(start_error, asyncio.CancelledError) and self._cancel_requested():
                    raise
                return
            self.state = CellState.RUNNING
            if not started.done():
                started.set_result(None)
        crash: tuple[BaseException, object] | None = None
        try:
            crash = await self._process(instance)
        except asyncio.CancelledError:
            # Only a shutdown timeout cancels the task: skip on_stop, just clean up.
            self._stopped(instance)
            raise
        failure: BaseException | None = None
        if crash is not None:
            failure, message = crash
            self._record_crash(failure, message)
            try:
                await instance.on_failure(failure, message)
            except asyncio.CancelledError:
                if self._cancel_requested():
                    self._stopped(instance)
                    raise
            except BaseException as failure_error:
                self.log.exception("on_failure raised")
                if _is_fatal(failure_error) and not _is_fatal(failure):
                    failure = failure_error
        try:
            await instance.on_stop()
        except asyncio.CancelledError:
            if self._cancel_requested():
                self._stopped(instance)
                raise
            self.log.exception("on_stop was cancelled")
        except BaseException as stop_error:
            self.log.exception("on_stop raised")
            if _is_fatal(stop_error) and failure is None:
                failure = stop_error
        self._stopped(instance)
        if failure is not None and _is_fatal(failure):
            self.system._fatal(failure)
        elif failure is not None or self.self_stop:
            self._exited(failure)

    async def _process(self, instance: Actor) -> tuple[BaseException, object] | None:
        queue = self.queue
        receive = instance.on_receive
        budget = THROUGHPUT
        while True:
            if self.stop_requested:
                return None
            if not queue:
                # An idle actor must not keep its last message alive: a batch of samples
                # would stay in memory, and reach the collector's old generation, in
                # every evaluator until its next message.
                message = None
                # Waited for inline, not in a helper coroutine: one coroutine fewer per
                # wait and per idle actor (faster asks, smaller actors).
                waiter: asyncio.Future[None] = self.loop.create_future()
                self.waiter = waiter
                try:
                    await waiter
                finally:
                    self.waiter = None
                continue
            message = queue.popleft()
            if self.putters:
                self._release_putter()
            if message.__class__ is _Ask:
                ask: _Ask = message  # type: ignore[assignment,unused-ignore]
                self.current_ask = ask
                try:
                    result = await receive(ask.message)
                except BaseException as error:
                    self.current_ask = None
                    if isinstance(error, asyncio.CancelledError) and self._cancel_requested():
                        # The shutdown timeout cut the handler off: no reply will come.
                        if not ask.future.done():
                            ask.future.set_exception(ActorDead(self.path))
                        raise
                    return error, ask
                if self.current_ask is ask:
                    self.current_ask = None
                    if not ask.future.done():
                        ask.future.set_result(result)
            else:
                if message.__class__ is _Timed:
                    message = message.message
                elif message.__class__ is CrashOrder:
                    # ActorSystem.inject_crash: a real crash, handled as a raising handler.
                    return InjectedFault(self.path), message
                try:
                    await receive(message)
                except BaseException as error:
                    if isinstance(error, asyncio.CancelledError) and self._cancel_requested():
                        raise
                    return error, message
            budget -= 1
            if not budget:
                budget = THROUGHPUT
                await asyncio.sleep(0)

    def _cancel_requested(self) -> bool:
        task = self.task
        return task is not None and task.cancelling() > 0

    def _start_failed(self, error: BaseException, started: asyncio.Future[None]) -> None:
        self.log.error("on_start failed", exc_info=error)
        if self._timers is not None:
            self._timers.cancel_all()
        self.instance = None
        self.state = CellState.STOPPED
        if not started.done():
            start_error = ActorStartError(self.path, error)
            start_error.__cause__ = error
            started.set_exception(start_error)
        if _is_fatal(error):
            self.system._fatal(error)

    def _record_crash(self, error: BaseException, message: object) -> None:
        if isinstance(message, _Ask):
            if not message.future.done():
                if _is_fatal(error):
                    # Raised in the asking task, KeyboardInterrupt or SystemExit would escape
                    # to the event loop; the system is shutting down, the actor with it.
                    dead = ActorDead(self.path)
                    dead.__cause__ = error
                    message.future.set_exception(dead)
                elif isinstance(error, asyncio.CancelledError):
                    # Handed over as is, it would look like a cancellation of the asker.
                    crashed = ActorCrashed(self.path, error)
                    crashed.__cause__ = error
                    message.future.set_exception(crashed)
                else:
                    message.future.set_exception(error)
            message = message.message
        if not _is_fatal(error):
            self.log.error("actor crashed", message_type=type(message).__name__, exc_info=error)
            self.system.failures[self.path] += 1
        self.dead_letter(message, "crashed", error)

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
        self._finalize(error)

    def _finalize(self, error: BaseException | None) -> None:
        if self.state is CellState.DEAD:
            return
        self.state = CellState.DEAD
        self.accepting = False
        self.dormant = False
        self.termination_error = error
        while self.queue:
            message = self.queue.popleft()
            if isinstance(message, ChildExited):
                continue
            if isinstance(message, _Ask):
                if not message.future.done():
                    message.future.set_exception(ActorDead(self.path))
                message = message.message
            self.dead_letter(message, "stopped", None)
        for putter in self.putters or ():
            if not putter.done():
                putter.set_exception(ActorDead(self.path))
        siblings = None if self.parent is None else self.parent.children
        if siblings is not None and siblings.get(self.name) is self:
            del siblings[self.name]
        self.system._unregister(self)
        if self.watching is not None:
            for target in self.watching:
                if target.watchers is not None:
                    target.watchers.discard(self)
            self.watching = None
        if self.watchers is not None:
            for watcher in self.watchers:
                if watcher.watching is not None:
                    watcher.watching.discard(self)
                # Past the watcher's bound, as Akka's system messages: a full mailbox
                # must not lose a death.
                watcher.ref.tell_system(Terminated(self.ref, error))
            self.watchers = None
        if self._terminated_waiters is not None:
            for waiter in self._terminated_waiters:
                if not waiter.done():
                    waiter.set_result(error)
            self._terminated_waiters = None

    async def wait_terminated(self) -> BaseException | None:
        """Wait until this cell is DEAD; return the error that ended it."""
        if self.state is CellState.DEAD:
            return self.termination_error
        if self._terminated_waiters is None:
            self._terminated_waiters = []
        waiter: asyncio.Future[BaseException | None] = self.loop.create_future()
        self._terminated_waiters.append(waiter)
        return await waiter

    # -- watch -----------------------------------------------------------------------------

    def watch(self, target: ActorCell) -> None:
        """Deliver ``Terminated`` to this actor when ``target`` terminates (now, if dead)."""
        if target.state is CellState.DEAD:
            self.ref.tell_system(Terminated(target.ref, target.termination_error))
            return
        if target.watchers is None:
            target.watchers = set()
        target.watchers.add(self)
        if self.watching is None:
            self.watching = set()
        self.watching.add(target)

    def unwatch(self, target: ActorCell) -> None:
        """Stop watching ``target``."""
        if target.watchers is not None:
            target.watchers.discard(self)
        if self.watching is not None:
            self.watching.discard(target)

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
