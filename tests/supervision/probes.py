"""Probes for the runtime's tests: an awaitable event log, a scriptable actor, leak checks.

Nothing here sleeps: tests wait on events and futures, or yield to the event loop a
bounded number of times, and drive time with ``FakeClock``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from supervision import Actor, ChildSpec, Restart


class Boom(Exception):
    """The deliberate crash of a test actor."""


class Events:
    """An ordered log of what the test actors did, with awaitable conditions."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    def record(self, event: str) -> None:
        """Append ``event`` and wake the waiters whose condition now holds."""
        self.log.append(event)
        for condition, future in tuple(self._waiters):
            if not future.done() and condition():
                future.set_result(None)

    def count(self, event: str) -> int:
        """Return how many times ``event`` was recorded."""
        return self.log.count(event)

    def since(self, mark: int) -> list[str]:
        """Return the events recorded after the first ``mark`` ones."""
        return self.log[mark:]

    async def until(self, event: str, count: int = 1) -> None:
        """Wait until ``event`` has been recorded ``count`` times."""
        await self.until_true(lambda: self.log.count(event) >= count)

    async def until_true(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds after some event was recorded."""
        if condition():
            return
        waiter = (condition, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            await waiter[1]
        finally:
            self._waiters.remove(waiter)


@dataclass(frozen=True)
class Crash:
    """Make a probe raise ``error`` from ``on_receive``."""

    error: BaseException = field(default_factory=lambda: Boom("boom"))


@dataclass(frozen=True)
class Hold:
    """Make a probe wait in ``on_receive`` until ``gate`` is set; the reply is "released"."""

    gate: asyncio.Event


@dataclass(frozen=True)
class StopSelf:
    """Make a probe call ``self.stop()`` (a normal exit)."""


class Probe(Actor):
    """Record ``start:<name>``, ``stop:<name>`` and ``got:<name>:<message>``; obey commands.

    Any message that is not a command is recorded and returned as the reply.
    """

    def __init__(self, name: str, events: Events) -> None:
        self.name = name
        self.events = events

    async def on_start(self) -> None:
        self.events.record(f"start:{self.name}")

    async def on_stop(self) -> None:
        self.events.record(f"stop:{self.name}")

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Crash):
            self.events.record(f"crash:{self.name}")
            raise message.error
        if isinstance(message, Hold):
            self.events.record(f"hold:{self.name}")
            await message.gate.wait()
            return "released"
        if isinstance(message, StopSelf):
            self.events.record(f"self-stop:{self.name}")
            self.stop()
            return None
        self.events.record(f"got:{self.name}:{message}")
        return message


def probe(name: str, events: Events) -> Callable[[], Actor]:
    """Return a factory of ``Probe(name, events)``."""
    return lambda: Probe(name, events)


def probe_spec(
    name: str,
    events: Events,
    restart: Restart = Restart.PERMANENT,
    *,
    shutdown: float = 5.0,
    mailbox_size: int | None = None,
) -> ChildSpec:
    """Return the spec of a child ``Probe`` called ``name``."""
    return ChildSpec(
        name, probe(name, events), restart, shutdown=shutdown, mailbox_size=mailbox_size
    )


async def until(condition: Callable[[], bool], *, rounds: int = 1000) -> None:
    """Yield to the event loop until ``condition()`` holds; fail after ``rounds`` turns.

    For state that no event announces (a timer registered, a mailbox filled). It never
    waits on wall-clock time, so a loaded machine cannot make it flaky.
    """
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"condition did not hold within {rounds} loop turns")


async def idle(turns: int = 20) -> None:
    """Let the event loop run ``turns`` rounds, before checking that something did not happen."""
    for _ in range(turns):
        await asyncio.sleep(0)


def other_tasks() -> set[asyncio.Task[Any]]:
    """Return the unfinished tasks of the loop, except the caller's own."""
    return asyncio.all_tasks() - {asyncio.current_task()}


@asynccontextmanager
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail if a task created inside the block is still unfinished when it ends."""
    before = other_tasks()
    yield
    leaked = other_tasks() - before
    assert not leaked, f"tasks leaked: {leaked}"
