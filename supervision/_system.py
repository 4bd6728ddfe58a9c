"""ActorSystem: the root supervisor, the path registry, the clock and clean shutdown."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from types import TracebackType

import structlog

from supervision._actor import Actor
from supervision._backoff import Backoff
from supervision._cell import ActorCell
from supervision._cell_state import CellState
from supervision._clock import Clock, RealClock
from supervision._deadletters import DeadLetters
from supervision._errors import ActorDead, ActorNotFound, SystemFailed
from supervision._faults import CrashOrder, FaultInjectionDisabled
from supervision._ref import ActorRef
from supervision._strategy import Restart, Strategy
from supervision._supervisor import ChildInfo, ChildSpec, StartChild, Supervisor, TerminateChild
from supervision._supervisor import WhichChildren as _WhichChildren

_log = structlog.get_logger("tocsin.system")


class ActorSystem:
    """Run a supervision tree: ``async with ActorSystem(children=[...]) as system:``.

    The root is a supervisor (path ``/``) whose children are ``children``; more can be
    added with ``start_child``/``spawn``. Leaving the ``async with`` block (or calling
    ``shutdown``) stops the whole tree in reverse start order. If the root supervisor
    fails (its restart intensity is exceeded) or an actor raises ``KeyboardInterrupt`` or
    ``SystemExit``, the system shuts itself down and ``wait_terminated`` raises
    ``SystemFailed`` from that error.

    What went wrong so far is counted for health checks and metrics: ``failures`` (actor
    path → crashes), ``escalations`` (supervisor path → times it exceeded its restart
    intensity), ``restart_counts()`` and ``not_running()``. ``fault_injection=True``
    (tests only) enables ``inject_crash``.
    """

    def __init__(
        self,
        children: Sequence[ChildSpec] = (),
        *,
        name: str = "tocsin",
        clock: Clock | None = None,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        intensity: int = 3,
        period: float = 5.0,
        backoff: Backoff | None = None,
        dead_letters_kept: int = 1000,
        fault_injection: bool = False,
    ) -> None:
        self.name = name
        self.clock: Clock = clock or RealClock()
        self.dead_letters = DeadLetters(dead_letters_kept)
        self.failure: BaseException | None = None
        self.failures: Counter[str] = Counter()
        self.escalations: Counter[str] = Counter()
        self.fault_injection = fault_injection
        self._children = tuple(children)
        self._root_options = (strategy, intensity, period, backoff)
        self._registry: dict[str, ActorCell] = {}
        self._root: ActorCell | None = None
        self._shutdown_task: asyncio.Task[None] | None = None
        self._terminated: asyncio.Event | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the root supervisor and its children in order; raise ActorStartError."""
        if self._root is not None:
            raise RuntimeError("the system is already started")
        strategy, intensity, period, backoff = self._root_options
        children = self._children

        def root() -> Actor:
            return Supervisor(
                children, strategy=strategy, intensity=intensity, period=period, backoff=backoff
            )

        self._terminated = asyncio.Event()
        cell = ActorCell(self, None, "", root)
        self._root = cell
        self._register(cell)
        try:
            await cell.start()
        except BaseException:
            await cell.terminate()
            self._terminated.set()
            raise
        _log.debug("system started", system=self.name)

    async def __aenter__(self) -> ActorSystem:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop the whole tree in reverse start order; safe to call more than once."""
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.get_running_loop().create_task(
                self._shutdown(), name=f"{self.name}-shutdown"
            )
        await asyncio.shield(self._shutdown_task)

    async def _shutdown(self) -> None:
        root = self._root
        if root is not None:
            await root.terminate(self.failure)
        if self._terminated is not None:
            self._terminated.set()
        _log.debug("system stopped", system=self.name)

    async def wait_terminated(self) -> None:
        """Wait until the system has shut down; raise SystemFailed if it failed."""
        if self._terminated is None:
            raise RuntimeError("the system was never started")
        await self._terminated.wait()
        if self._shutdown_task is not None:
            await asyncio.shield(self._shutdown_task)
        if self.failure is not None:
            raise SystemFailed(f"actor system {self.name} failed: {self.failure!r}") from (
                self.failure
            )

    @property
    def running(self) -> bool:
        """Return True while the root supervisor is up and no shutdown has begun."""
        return (
            self._root is not None
            and self._root.state is CellState.RUNNING
            and self._shutdown_task is None
        )

    def _fatal(self, error: BaseException) -> None:
        # KeyboardInterrupt/SystemExit inside an actor: never let it reach the event loop;
        # shut the tree down in order instead and surface it from wait_terminated.
        _log.error("fatal error in an actor, shutting the system down", error=repr(error))
        if self.failure is None:
            self.failure = error
        self._begin_shutdown()

    def _root_exited(self, error: BaseException | None) -> None:
        if error is not None and self.failure is None:
            self.failure = error
            _log.error("root supervisor failed, shutting the system down", error=repr(error))
        self._begin_shutdown()

    def _begin_shutdown(self) -> None:
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.get_running_loop().create_task(
                self._shutdown(), name=f"{self.name}-shutdown"
            )

    # -- the tree -------------------------------------------------------------------------------

    @property
    def root(self) -> ActorRef:
        """Return the root supervisor's ref."""
        if self._root is None:
            raise RuntimeError("the system is not started")
        return self._root.ref

    async def start_child(
        self, spec: ChildSpec, parent: ActorRef | str | None = None, timeout: float = 30.0
    ) -> ActorRef:
        """Add and start a child under ``parent`` (a supervisor; the root by default).

        Raises ``ChildExists``, ``ActorStartError`` or ``ActorNotFound``.
        """
        target = self._resolve_parent(parent)
        ref: ActorRef = await target.ask(StartChild(spec), timeout=timeout)
        return ref

    async def spawn(
        self,
        factory: Callable[[], Actor],
        name: str,
        *,
        parent: ActorRef | str | None = None,
        restart: Restart = Restart.PERMANENT,
        mailbox_size: int | None = None,
        shutdown: float = 5.0,
    ) -> ActorRef:
        """Start ``factory()`` as a supervised child; shorthand for ``start_child``."""
        spec = ChildSpec(name, factory, restart, shutdown, mailbox_size)
        return await self.start_child(spec, parent)

    async def terminate_child(
        self, name: str, parent: ActorRef | str | None = None, timeout: float = 30.0
    ) -> None:
        """Terminate the child ``name`` of ``parent`` for good; raise ActorNotFound."""
        await self._resolve_parent(parent).ask(TerminateChild(name), timeout=timeout)

    async def which_children(
        self, parent: ActorRef | str | None = None, timeout: float = 30.0
    ) -> list[ChildInfo]:
        """Return the children of ``parent`` in start order."""
        children: list[ChildInfo] = await self._resolve_parent(parent).ask(
            _WhichChildren(), timeout=timeout
        )
        return children

    def _resolve_parent(self, parent: ActorRef | str | None) -> ActorRef:
        if parent is None:
            return self.root
        if isinstance(parent, str):
            return self.lookup(parent)
        return parent

    def lookup(self, path_or_name: str) -> ActorRef:
        """Return the live actor at a path (``/a/b``) or with a unique name (``b``).

        Raises ``ActorNotFound`` when there is none, or when a bare name is ambiguous.
        """
        if path_or_name.startswith("/"):
            cell = self._registry.get(path_or_name)
            if cell is None:
                raise ActorNotFound(path_or_name)
            return cell.ref
        found = [c for c in self._registry.values() if c.name == path_or_name]
        if len(found) != 1:
            detail = path_or_name if not found else f"{path_or_name} (ambiguous: {len(found)})"
            raise ActorNotFound(detail)
        return found[0].ref

    def restart_counts(self) -> dict[str, int]:
        """Return live actor path → times it was restarted (actors never restarted left out).

        A child restarted along with its supervisor counts too: its instance was replaced.
        """
        return {
            path: cell.incarnation - 1
            for path, cell in self._registry.items()
            if cell.incarnation > 1
        }

    def not_running(self) -> list[str]:
        """Return the paths of live actors that are not running now, in start order.

        An actor stopped by a crash and waiting for its restart (a backoff, or its
        supervisor still busy) is here; a health check reports the tree as degraded.
        """
        return [
            path for path, cell in self._registry.items() if cell.state is not CellState.RUNNING
        ]

    def inject_crash(self, target: ActorRef | str) -> None:
        """Make ``target`` crash when it reaches this order in its mailbox (tests only).

        The actor crashes for real (``InjectedFault``): dead letter, ``on_failure``,
        ``on_stop``, then its supervisor restarts it or escalates. Messages queued before
        the order are handled first; those after it wait for the new instance. Raises
        ``FaultInjectionDisabled`` unless the system was built with
        ``fault_injection=True``, ``ActorNotFound`` or ``ActorDead`` for a missing actor.
        """
        if not self.fault_injection:
            raise FaultInjectionDisabled(
                f"actor system {self.name} was built without fault_injection=True"
            )
        ref = self.lookup(target) if isinstance(target, str) else target
        cell = ref._cell
        if not cell.accepting:
            raise ActorDead(cell.path)
        cell.tell_system(CrashOrder())

    def paths(self) -> list[str]:
        """Return the paths of every live actor."""
        return list(self._registry)

    def _register(self, cell: ActorCell) -> None:
        self._registry[cell.path] = cell

    def _unregister(self, cell: ActorCell) -> None:
        if self._registry.get(cell.path) is cell:
            del self._registry[cell.path]
