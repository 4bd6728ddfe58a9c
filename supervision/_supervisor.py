"""Supervisor: start children in order, restart them by strategy, escalate past intensity."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from supervision._actor import Actor
from supervision._backoff import Backoff
from supervision._cell import ActorCell
from supervision._cell_state import CellState
from supervision._errors import ActorNotFound, ActorStartError, RestartIntensityExceeded
from supervision._intensity import RestartIntensity
from supervision._messages import ChildExited
from supervision._ref import ActorRef
from supervision._strategy import Restart, Strategy, affected_children, should_restart


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How a supervisor starts and treats one child.

    ``factory`` builds a fresh instance for every (re)start. ``shutdown`` is how long the
    child's current message plus ``on_stop`` may take when it is stopped before its task
    is cancelled. ``mailbox_size`` None means unbounded.
    """

    name: str
    factory: Callable[[], Actor]
    restart: Restart = Restart.PERMANENT
    shutdown: float = 5.0
    mailbox_size: int | None = None

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ValueError(f"child name must be non-empty without '/', got {self.name!r}")
        if self.shutdown < 0:
            raise ValueError(f"shutdown must be >= 0, got {self.shutdown}")
        if self.mailbox_size is not None and self.mailbox_size < 1:
            raise ValueError(f"mailbox_size must be >= 1 or None, got {self.mailbox_size}")


@dataclass(frozen=True, slots=True)
class StartChild:
    """Ask a supervisor to add and start a child; the reply is its ActorRef.

    The ask raises ``ChildExists`` for a taken name and ``ActorStartError`` if the child's
    ``on_start`` failed (the child is then removed again).
    """

    spec: ChildSpec


@dataclass(frozen=True, slots=True)
class TerminateChild:
    """Ask a supervisor to terminate a child for good and forget its spec.

    The ask raises ``ActorNotFound`` for an unknown name.
    """

    name: str


@dataclass(frozen=True, slots=True)
class WhichChildren:
    """Ask a supervisor for its children; the reply is a list of ``ChildInfo``."""


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """One child of a supervisor, as ``WhichChildren`` reports it."""

    name: str
    ref: ActorRef
    restart: Restart
    state: str


@dataclass(frozen=True, slots=True)
class _RestartDue:
    names: tuple[str, ...]
    incarnations: tuple[int, ...] = field(default=())


class Supervisor(Actor):
    """An actor whose job is its children.

    Children start in order (each ``on_start`` completes before the next begins) and stop
    in reverse order. When a child exits, its restart type decides whether it restarts
    and the strategy decides which siblings restart with it. More than ``intensity``
    restarts within ``period`` seconds: the supervisor stops all its children and fails
    with ``RestartIntensityExceeded``, which its own supervisor handles.

    Membership lives in the supervisor's cell, not its instance: a supervisor restarted
    by its parent restarts the same children (including those added at run time) behind
    the same refs, with their mailboxes.
    """

    def __init__(
        self,
        children: Sequence[ChildSpec] = (),
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        intensity: int = 3,
        period: float = 5.0,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
    ) -> None:
        names = [spec.name for spec in children]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate child names in {names}")
        self.initial_children = tuple(children)
        self.strategy = Strategy(strategy)
        self.intensity = RestartIntensity(intensity, period)
        self.backoff = backoff
        self._rng = rng or random.Random()
        self._attempts: dict[str, int] = {}

    # -- lifecycle ------------------------------------------------------------------------------

    async def on_start(self) -> None:
        cell = self._cell
        if cell.children is None:
            # Seed the membership once: after that it lives in the cell, so a restart does
            # not bring back a child that was terminated for good (terminate_child, or a
            # temporary/transient exit).
            for spec in self.initial_children:
                cell.add_child(spec)
        started: list[ActorCell] = []
        for child in cell.child_cells():
            if child.state not in (CellState.NEW, CellState.STOPPED):
                started.append(child)
                continue
            try:
                await child.start()
            except ActorStartError:
                # As OTP: a child that fails to start makes the supervisor's start fail,
                # after the children already started are stopped in reverse order.
                for done in reversed(started):
                    await done.stop()
                raise
            started.append(child)

    async def on_stop(self) -> None:
        for child in reversed(self._cell.child_cells()):
            await child.stop()

    # -- messages --------------------------------------------------------------------------------

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, ChildExited):
            await self._child_exited(message)
        elif isinstance(message, _RestartDue):
            await self._restart_due(message)
        elif isinstance(message, StartChild):
            await self._start_child(message.spec)
        elif isinstance(message, TerminateChild):
            await self._terminate_child(message.name)
        elif isinstance(message, WhichChildren):
            return [
                ChildInfo(
                    c.name, c.ref, c.spec.restart if c.spec else Restart.PERMANENT, c.state.value
                )
                for c in self._cell.child_cells()
            ]
        else:
            return await super().on_receive(message)
        return None

    async def _start_child(self, spec: ChildSpec) -> None:
        reply = self.defer_reply()
        try:
            child = self._cell.add_child(spec)
        except Exception as error:
            reply.fail(error)
            return
        try:
            await child.start()
        except ActorStartError as error:
            await child.terminate(error.error)
            reply.fail(error)
            return
        reply.set(child.ref)

    async def _terminate_child(self, name: str) -> None:
        reply = self.defer_reply()
        cells = self._cell.children or {}
        child = cells.get(name)
        if child is None:
            reply.fail(ActorNotFound(f"{self.path.rstrip('/')}/{name}"))
            return
        self._attempts.pop(name, None)
        await child.terminate()
        reply.set(None)

    async def _child_exited(self, message: ChildExited) -> None:
        child = message.cell
        cells = self._cell.children or {}
        if (
            cells.get(child.name) is not child
            or child.incarnation != message.incarnation
            or child.state is not CellState.STOPPED
        ):
            return  # stale news about an instance already replaced or removed
        error = message.error
        restart = child.spec.restart if child.spec else Restart.PERMANENT
        if not should_restart(restart, error is not None):
            self.log.info("child exited, not restarted", child=child.name, restart=restart.value)
            self._attempts.pop(child.name, None)
            await child.terminate(error)
            return
        if self.intensity.record(self.clock.now()):
            self.system.escalations[self.path] += 1
            self.log.error(
                "restart intensity exceeded, escalating",
                child=child.name,
                intensity=self.intensity.intensity,
                period=self.intensity.period,
            )
            raise RestartIntensityExceeded(
                self.path, self.intensity.intensity, self.intensity.period
            ) from error
        names = affected_children(self.strategy, list(cells), child.name)
        affected = [cells[name] for name in names]
        for other in reversed(affected):
            if other is not child:
                await other.stop()
        # As OTP: a temporary child is never restarted, not even when a sibling's exit made
        # the strategy stop it; it is terminated instead.
        for other in affected:
            if other is not child and other.spec and other.spec.restart is Restart.TEMPORARY:
                await other.terminate()
        affected = [c for c in affected if c.state is not CellState.DEAD]
        names = [c.name for c in affected]
        delay = self._backoff_delay(child)
        if delay > 0:
            self.log.info("restart scheduled", children=names, delay=round(delay, 4))
            self.timers.send_after(
                delay,
                _RestartDue(tuple(names), tuple(c.incarnation for c in affected)),
                key=("restart", child.name),
            )
            return
        await self._restart(affected)

    def _backoff_delay(self, child: ActorCell) -> float:
        if self.backoff is None:
            return 0.0
        if self.clock.now() - child.last_start >= self.backoff.reset_after:
            self._attempts[child.name] = 0
        attempt = self._attempts.get(child.name, 0)
        self._attempts[child.name] = attempt + 1
        return self.backoff.delay(attempt, self._rng)

    async def _restart_due(self, message: _RestartDue) -> None:
        cells = self._cell.children or {}
        affected = [
            cells[name]
            for name, incarnation in zip(message.names, message.incarnations, strict=True)
            if name in cells and cells[name].incarnation == incarnation
        ]
        await self._restart(affected)

    async def _restart(self, children: list[ActorCell]) -> None:
        for child in children:
            if child.state is not CellState.STOPPED:
                continue
            self.log.info("restarting child", child=child.name)
            try:
                await child.start()
            except ActorStartError as error:
                # A failed restart is handled like any exit: counted against the intensity,
                # and the strategy picks the children to restart again.
                self._cell.tell_system(ChildExited(child, child.incarnation, error.error))
                return
