"""A running AlertManager for tests: a system on a FakeClock, inboxes, stores that misbehave.

Nothing here sleeps: tests wait on replies and on inbox conditions, and drive time with
``FakeClock.advance``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from actors.alerting import AlertManagerConfig, GetStatus, ManagerStatus, alert_manager_spec
from actors.store import (
    EventQuery,
    MemoryStore,
    NewEvent,
    Snapshot,
    StateWrite,
    Store,
    StoredEvent,
    StoreUnavailable,
)
from messages import AlertTransition
from supervision import Actor, ActorRef, ActorSystem, ChildSpec, FakeClock


class Box:
    """Messages an ``Inbox`` actor received, in order, with awaitable conditions."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    def put(self, item: Any) -> None:
        self.items.append(item)
        for condition, future in tuple(self._waiters):
            if not future.done() and condition():
                future.set_result(None)

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds (checked now and after each message)."""
        if condition():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (condition, future)
        self._waiters.append(waiter)
        try:
            await future
        finally:
            self._waiters.remove(waiter)

    async def until_count(self, count: int) -> list[Any]:
        """Wait until ``count`` messages arrived; return them."""
        await self.until(lambda: len(self.items) >= count)
        return self.items[:count]

    def transitions(self) -> list[AlertTransition]:
        return [item for item in self.items if isinstance(item, AlertTransition)]


class Inbox(Actor):
    """Put every message it receives in its ``Box``."""

    def __init__(self, box: Box) -> None:
        self.box = box

    async def on_receive(self, message: Any) -> Any:
        self.box.put(message)
        return None


class GatedStore:
    """A store that holds appends until ``release``: durability made observable.

    ``appended`` counts the appends that completed.
    """

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiting = 0
        self.appended = 0
        self._arrived = asyncio.Event()

    def hold(self) -> None:
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    async def until_waiting(self) -> None:
        """Wait until an append is held at the gate."""
        while self.waiting == 0:
            self._arrived.clear()
            await self._arrived.wait()

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def append(
        self, events: Sequence[NewEvent], writes: Sequence[StateWrite] = ()
    ) -> list[int]:
        self.waiting += 1
        self._arrived.set()
        try:
            await self.gate.wait()
        finally:
            self.waiting -= 1
        seqs = await self.inner.append(events, writes)
        self.appended += 1
        return seqs

    async def load(self) -> Snapshot:
        return await self.inner.load()

    async def query_events(self, query: EventQuery) -> list[StoredEvent]:
        return await self.inner.query_events(query)

    async def healthy(self) -> bool:
        return await self.inner.healthy()


class FlakyStore(GatedStore):
    """A store whose next ``failures`` appends raise StoreUnavailable (nothing applied)."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.failures = 0
        self.failed = 0
        self._failed = asyncio.Event()

    async def until_failed(self, count: int) -> None:
        """Wait until ``count`` appends have failed in all."""
        while self.failed < count:
            self._failed.clear()
            await self._failed.wait()

    async def append(
        self, events: Sequence[NewEvent], writes: Sequence[StateWrite] = ()
    ) -> list[int]:
        if self.failures > 0:
            self.failures -= 1
            self.failed += 1
            self._failed.set()
            raise StoreUnavailable("disk full (simulated)")
        return await super().append(events, writes)


@dataclass
class Running:
    """An ActorSystem with an AlertManager, on a FakeClock."""

    system: ActorSystem
    manager: ActorRef
    clock: FakeClock
    store: Store
    notifications: Box

    async def status(self) -> ManagerStatus:
        status = await self.manager.ask(GetStatus())
        assert isinstance(status, ManagerStatus)
        return status

    async def subscriber(self, name: str) -> tuple[ActorRef, Box]:
        box = Box()
        ref = await self.system.spawn(lambda: Inbox(box), name)
        return ref, box

    async def settle(self) -> None:
        """Wait until everything told so far is handled and durable."""
        await self.status()


@asynccontextmanager
async def running(
    store: Store | None = None,
    *,
    config: AlertManagerConfig | None = None,
    clock: FakeClock | None = None,
    manager_spec: ChildSpec | None = None,
) -> AsyncIterator[Running]:
    """Run a system with an ``alert-manager`` (and a ``notifications`` inbox).

    ``store`` must be open; it is left open (by default: a new, open MemoryStore).
    ``manager_spec`` replaces the default spec (its ``notifications`` are then its own
    business).
    """
    if store is None:
        store = MemoryStore()
        await store.open()
    clock = FakeClock() if clock is None else clock
    box = Box()
    async with ActorSystem(
        [ChildSpec("notifications", lambda: Inbox(box))], clock=clock, intensity=100
    ) as system:
        notifications = system.lookup("notifications")
        spec = manager_spec or alert_manager_spec(store, config=config, notifications=notifications)
        manager = await system.start_child(spec)
        yield Running(system, manager, clock, store, box)
