"""PykkaBridge: a pykka ThreadingActor as a supervised child of the asyncio tree.

The pykka actors report from their own threads through thread-safe queues and events; the
tests wait for those off the event loop (``run_in_executor``) with a timeout that only a
hang ever reaches. Time moves only through ``FakeClock.advance``.
"""

from __future__ import annotations

import asyncio
import functools
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pykka
import pytest

from supervision import (
    Actor,
    ActorNotFound,
    ActorRef,
    ActorStartError,
    ActorSystem,
    ChildSpec,
    FakeClock,
    PykkaActorDied,
    PykkaBridge,
    Restart,
    Terminated,
)

# Real seconds a pykka thread may take to reach a point; only a hang waits this long.
WAIT = 5.0


@pytest.fixture(autouse=True)
def stop_pykka_actors() -> Iterator[None]:
    """Stop whatever pykka actor a failing test left behind, so no thread outlives it."""
    yield
    pykka.ActorRegistry.stop_all(timeout=WAIT)


# -- a pykka actor standing for a blocking vendor SDK ------------------------------------------


class VendorError(Exception):
    """What the vendor SDK raises."""


@dataclass(frozen=True)
class WhoAreYou:
    """Ask for the pykka actor's urn."""


@dataclass(frozen=True)
class Add:
    """Add ``amount`` to the running total; the reply is the new total."""

    amount: int


@dataclass(frozen=True)
class Fail:
    """Make the pykka actor raise ``VendorError``."""


@dataclass(frozen=True)
class Block:
    """Block the pykka actor's thread until ``Record.release`` is set; reply whether it was."""


@dataclass(frozen=True)
class StopYourself:
    """Make the pykka actor stop itself (pykka's ``self.stop()``)."""


@dataclass
class Record:
    """What the pykka actors did, written from their threads."""

    started: queue.Queue[str] = field(default_factory=queue.Queue)
    stopped: queue.Queue[str] = field(default_factory=queue.Queue)
    threads: dict[str, threading.Thread] = field(default_factory=dict)
    refs: dict[str, pykka.ActorRef[Any]] = field(default_factory=dict)
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class Vendor(pykka.ThreadingActor):
    """Call "the SDK" (block, raise, keep a total) in a thread of its own."""

    def __init__(
        self,
        record: Record,
        *,
        fail_start: bool = False,
        start_gate: threading.Event | None = None,
    ) -> None:
        super().__init__()
        self.record = record
        self.fail_start = fail_start
        self.start_gate = start_gate
        self.total = 0

    def on_start(self) -> None:
        self.record.threads[self.actor_urn] = threading.current_thread()
        self.record.refs[self.actor_urn] = self.actor_ref
        if self.start_gate is not None:
            self.start_gate.wait(2 * WAIT)
        if self.fail_start:
            raise VendorError("no credentials")
        self.record.started.put(self.actor_urn)

    def on_stop(self) -> None:
        self.record.stopped.put(self.actor_urn)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, WhoAreYou):
            return self.actor_urn
        if isinstance(message, Add):
            self.total += message.amount
            return self.total
        if isinstance(message, Fail):
            raise VendorError("the vendor is down")
        if isinstance(message, Block):
            self.record.entered.set()
            return self.record.release.wait(2 * WAIT)
        if isinstance(message, StopYourself):
            self.stop()
            return None
        return super().on_receive(message)


def bridge_spec(
    record: Record, restart: Restart = Restart.PERMANENT, *, fail_start: bool = False
) -> ChildSpec:
    factory = functools.partial(
        PykkaBridge, Vendor, record, fail_start=fail_start, liveness_interval=1.0
    )
    return ChildSpec("vendor", factory, restart)


async def next_from(items: queue.Queue[str]) -> str:
    """Wait, off the event loop, for the next item a pykka thread puts in ``items``."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(items.get, timeout=WAIT))


async def joined(thread: threading.Thread) -> bool:
    """Wait, off the event loop, for ``thread`` to end; return whether it did."""
    await asyncio.get_running_loop().run_in_executor(None, thread.join, WAIT)
    return not thread.is_alive()


# -- asyncio actors next to the bridge ---------------------------------------------------------


class Echo(Actor):
    """Reply with the message."""

    async def on_receive(self, message: Any) -> Any:
        return message


@dataclass(frozen=True)
class Watch:
    """Make a Watcher watch ``ref``."""

    ref: ActorRef


class Watcher(Actor):
    """Watch what it is told to and hand the first Terminated to ``seen``."""

    def __init__(self, seen: asyncio.Future[Terminated]) -> None:
        self.seen = seen

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Watch):
            self.watch(message.ref)
        elif isinstance(message, Terminated) and not self.seen.done():
            self.seen.set_result(message)


# -- start -------------------------------------------------------------------------------------


async def test_the_pykka_actor_has_started_in_its_own_thread_when_the_bridge_has() -> None:
    record = Record()
    async with ActorSystem([bridge_spec(record)], clock=FakeClock()) as system:
        urn = record.started.get_nowait()  # on_start ran before the bridge's start returned
        assert await system.lookup("vendor").ask(WhoAreYou()) == urn
        thread = record.threads[urn]
        assert thread is not threading.current_thread()
        assert thread.is_alive()


async def test_a_failing_pykka_on_start_fails_the_system_start_with_actor_start_error() -> None:
    record = Record()
    system = ActorSystem([bridge_spec(record, fail_start=True)], clock=FakeClock())
    with pytest.raises(ActorStartError) as raised:
        await system.start()
    errors: list[BaseException] = [raised.value]
    while isinstance(errors[-1], ActorStartError):
        errors.append(errors[-1].error)
    assert isinstance(errors[-1], PykkaActorDied)
    assert isinstance(errors[-1].__cause__, pykka.ActorDeadError)
    (thread,) = record.threads.values()
    assert await joined(thread)
    assert pykka.ActorRegistry.get_all() == []


async def test_a_failing_pykka_on_start_fails_start_child_and_removes_the_child() -> None:
    record = Record()
    async with ActorSystem(clock=FakeClock()) as system:
        with pytest.raises(ActorStartError) as raised:
            await system.start_child(bridge_spec(record, fail_start=True))
        assert raised.value.path == "/vendor"
        assert isinstance(raised.value.error, PykkaActorDied)
        with pytest.raises(ActorNotFound):
            system.lookup("/vendor")
        (thread,) = record.threads.values()
        assert await joined(thread)
        assert pykka.ActorRegistry.get_all() == []


async def test_a_pykka_on_start_outlasting_the_call_timeout_fails_the_start_and_stops_it() -> None:
    record = Record()
    gate = threading.Event()
    factory = functools.partial(PykkaBridge, Vendor, record, start_gate=gate, call_timeout=0.05)
    async with ActorSystem(clock=FakeClock()) as system:
        try:
            with pytest.raises(ActorStartError) as raised:
                await system.start_child(ChildSpec("vendor", factory))
            assert isinstance(raised.value.error, pykka.Timeout)
        finally:
            gate.set()  # the pykka on_start returns only now
        (urn,) = record.threads
        # Its on_stop is all that runs next: nothing is left running behind a failed start.
        assert await next_from(record.stopped) == urn
        assert record.started.get_nowait() == urn
        assert await joined(record.threads[urn])
        assert pykka.ActorRegistry.get_all() == []


# -- tell and ask ------------------------------------------------------------------------------


async def test_the_bridge_is_told_and_asked_in_order_from_async_code() -> None:
    record = Record()
    async with ActorSystem([bridge_spec(record)], clock=FakeClock()) as system:
        bridge = system.lookup("vendor")
        for amount in (1, 2, 3):
            bridge.tell(Add(amount))
        assert await bridge.ask(Add(4)) == 10
        assert system.dead_letters.count == 0


async def test_a_pykka_handler_blocked_in_its_thread_does_not_block_the_event_loop() -> None:
    record = Record()
    children = [bridge_spec(record), ChildSpec("echo", Echo)]
    async with ActorSystem(children, clock=FakeClock()) as system:
        bridge, echo = system.lookup("vendor"), system.lookup("echo")
        blocked = asyncio.create_task(bridge.ask(Block(), timeout=None))
        try:
            loop = asyncio.get_running_loop()
            assert await loop.run_in_executor(None, record.entered.wait, WAIT)
            # The pykka thread now waits on ``release``; the loop still serves other actors.
            for n in range(50):
                assert await echo.ask(n) == n
            bridge.tell(Add(1))  # returns at once; queued behind the blocked call
            assert not blocked.done()
            assert not record.release.is_set()
        finally:
            record.release.set()
            released = await blocked
        assert released is True  # released by the test, not by the handler's own timeout
        assert await bridge.ask(Add(1)) == 2


# -- failures and restarts ---------------------------------------------------------------------


@pytest.mark.parametrize("how", ["ask", "tell"])
async def test_an_exception_in_the_pykka_actor_restarts_the_bridge_with_a_fresh_actor(
    how: str,
) -> None:
    record = Record()
    async with ActorSystem([bridge_spec(record)], clock=FakeClock()) as system:
        bridge = system.lookup("vendor")
        first = record.started.get_nowait()
        assert await bridge.ask(Add(10)) == 10
        if how == "ask":
            with pytest.raises(VendorError):  # raised in the asker, as the pykka actor raised it
                await bridge.ask(Fail())
        else:
            bridge.tell(Fail())
        bridge.tell(Add(5))  # queued behind the failure: the mailbox outlives the restart
        assert await next_from(record.stopped) == first
        second = await next_from(record.started)
        assert second != first
        assert await bridge.ask(WhoAreYou()) == second
        assert await bridge.ask(Add(1)) == 6  # a fresh actor: the old total is gone
        assert system.lookup("vendor") is bridge
        assert not record.refs[first].is_alive()
        assert await joined(record.threads[first])
        (letter,) = system.dead_letters.recent()
        assert (letter.message, letter.reason) == (Fail(), "crashed")
        assert isinstance(letter.error, VendorError)


async def test_a_pykka_actor_that_stops_itself_is_restarted_at_the_next_liveness_check() -> None:
    record = Record()
    clock = FakeClock()
    async with ActorSystem([bridge_spec(record)], clock=clock) as system:
        bridge = system.lookup("vendor")
        first = record.started.get_nowait()
        await bridge.ask(StopYourself())
        assert await next_from(record.stopped) == first
        assert not record.refs[first].is_alive()
        assert record.started.empty()  # nobody has noticed yet: no traffic, no check
        clock.advance(1.0)
        second = await next_from(record.started)
        assert second != first
        assert await bridge.ask(WhoAreYou()) == second
        (letter,) = system.dead_letters.recent()
        assert letter.reason == "crashed"
        assert isinstance(letter.error, PykkaActorDied)


# -- termination -------------------------------------------------------------------------------


@pytest.mark.parametrize("end", ["terminate_child", "temporary_crash"])
async def test_a_tocsin_actor_watching_the_bridge_receives_terminated_when_it_ends_for_good(
    end: str,
) -> None:
    record = Record()
    seen: asyncio.Future[Terminated] = asyncio.get_running_loop().create_future()
    children = [
        ChildSpec("watcher", functools.partial(Watcher, seen)),
        bridge_spec(record, Restart.TEMPORARY),
    ]
    async with ActorSystem(children, clock=FakeClock()) as system:
        bridge = system.lookup("vendor")
        urn = record.started.get_nowait()
        await system.lookup("watcher").ask(Watch(bridge))
        if end == "terminate_child":
            await system.terminate_child("vendor")
        else:
            bridge.tell(Fail())
        terminated = await seen
        assert terminated.ref is bridge
        if end == "terminate_child":
            assert terminated.error is None
        else:
            assert isinstance(terminated.error, VendorError)
        assert not bridge.is_alive()
        assert await next_from(record.stopped) == urn
        assert record.started.empty()  # terminated, not restarted
        assert await joined(record.threads[urn])
        assert pykka.ActorRegistry.get_all() == []


async def test_shutting_the_tree_down_stops_the_pykka_actor_and_ends_its_thread() -> None:
    record = Record()
    async with ActorSystem([bridge_spec(record)], clock=FakeClock()) as system:
        urn = record.started.get_nowait()
        bridge = system.lookup("vendor")
    assert not bridge.is_alive()
    assert record.stopped.get_nowait() == urn  # on_stop ran before the shutdown returned
    assert not record.refs[urn].is_alive()
    assert await joined(record.threads[urn])
    assert pykka.ActorRegistry.get_all() == []
