"""Timers driven by a FakeClock, and death watch with Terminated."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from supervision import (
    Actor,
    ActorRef,
    ActorSystem,
    ChildSpec,
    FakeClock,
    Restart,
    Terminated,
)
from tests.supervision.probes import Boom, Crash, Events, Hold, StopSelf, probe_spec

# -- timers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class After:
    delay: float
    message: object
    key: object = None


@dataclass(frozen=True)
class Every:
    interval: float
    message: object
    key: object = None
    initial_delay: float | None = None


@dataclass(frozen=True)
class Cancel:
    key: object


@dataclass(frozen=True)
class IsActive:
    key: object


class Ticker(Actor):
    """Start and cancel its own timers on command; record every other message."""

    def __init__(self, events: Events) -> None:
        self.events = events

    async def on_start(self) -> None:
        self.events.record("start")

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, After):
            return self.timers.send_after(message.delay, message.message, key=message.key)
        if isinstance(message, Every):
            try:
                return self.timers.send_every(
                    message.interval,
                    message.message,
                    key=message.key,
                    initial_delay=message.initial_delay,
                )
            except ValueError as error:
                return error
        if isinstance(message, Cancel):
            return self.timers.cancel(message.key)
        if isinstance(message, IsActive):
            return self.timers.is_active(message.key)
        if message == "count":
            return len(self.timers)
        if message == "sync":
            return None
        if isinstance(message, Crash | Hold):
            if isinstance(message, Hold):
                self.events.record("hold")
                await message.gate.wait()
                return None
            raise message.error
        self.events.record(f"got:{message}")
        return None


def ticker(events: Events) -> list[ChildSpec]:
    return [ChildSpec("ticker", lambda: Ticker(events))]


def received(events: Events) -> list[str]:
    return [e.removeprefix("got:") for e in events.log if e.startswith("got:")]


async def test_send_after_delivers_the_message_once_after_the_delay() -> None:
    events = Events()
    clock = FakeClock()
    async with ActorSystem(ticker(events), clock=clock) as system:
        ref = system.lookup("ticker")
        await ref.ask(After(2.0, "ding"))

        clock.advance(1.999)
        await ref.ask("sync")
        assert received(events) == []

        clock.advance(0.001)
        await ref.ask("sync")
        assert received(events) == ["ding"]

        clock.advance(100.0)
        await ref.ask("sync")
        assert received(events) == ["ding"]
        assert await ref.ask("count") == 0


async def test_send_every_delivers_the_message_at_a_fixed_delay() -> None:
    events = Events()
    clock = FakeClock()
    async with ActorSystem(ticker(events), clock=clock) as system:
        ref = system.lookup("ticker")
        await ref.ask(Every(1.0, "tick", key="tick"))

        for expected in (1, 2, 3):
            clock.advance(1.0)
            await ref.ask("sync")
            assert received(events) == ["tick"] * expected

        clock.advance(3.0)
        await ref.ask("sync")
        assert received(events) == ["tick"] * 6
        assert await ref.ask(IsActive("tick")) is True


async def test_send_every_waits_for_its_initial_delay_before_the_first_tick() -> None:
    events = Events()
    clock = FakeClock()
    async with ActorSystem(ticker(events), clock=clock) as system:
        ref = system.lookup("ticker")
        await ref.ask(Every(10.0, "tick", initial_delay=1.0))

        clock.advance(1.0)
        await ref.ask("sync")
        assert received(events) == ["tick"]

        clock.advance(9.999)
        await ref.ask("sync")
        assert received(events) == ["tick"]

        clock.advance(0.001)
        await ref.ask("sync")
        assert received(events) == ["tick", "tick"]


@pytest.mark.parametrize("interval", [0.0, -1.0])
async def test_send_every_rejects_a_non_positive_interval(interval: float) -> None:
    events = Events()
    async with ActorSystem(ticker(events), clock=FakeClock()) as system:
        error = await system.lookup("ticker").ask(Every(interval, "tick"))

        assert isinstance(error, ValueError)
        assert "interval" in str(error)


async def test_a_timer_started_with_an_active_key_replaces_it() -> None:
    events = Events()
    clock = FakeClock()
    async with ActorSystem(ticker(events), clock=clock) as system:
        ref = system.lookup("ticker")
        await ref.ask(After(5.0, "old", key="k"))
        await ref.ask(After(1.0, "new", key="k"))
        assert await ref.ask("count") == 1

        clock.advance(10.0)
        await ref.ask("sync")

        assert received(events) == ["new"]


async def test_a_periodic_timer_can_replace_a_single_shot_one_with_the_same_key() -> None:
    events = Events()
    clock = FakeClock()
    async with ActorSystem(ticker(events), clock=clock) as system:
        ref = system.lookup("ticker")
        await ref.ask(After(1.0, "once", key="k"))
        await ref.ask(Every(2.0, "tick", key="k"))

        clock.advance(4.0)
        await ref.ask("sync")

        assert received(events) == ["tick", "tick"]


async def test_a_cancelled_timer_never_fires() -> None:
    events = Events()
    clock = FakeClock()
    async with ActorSystem(ticker(events), clock=clock) as system:
        ref = system.lookup("ticker")
        await ref.ask(After(1.0, "once", key="once"))
        await ref.ask(Every(1.0, "tick", key="tick"))
        clock.advance(1.0)
        await ref.ask("sync")

        assert await ref.ask(Cancel("tick")) is True
        assert await ref.ask(Cancel("tick")) is False
        assert await ref.ask(Cancel("once")) is False  # it already fired
        assert await ref.ask(IsActive("tick")) is False
        clock.advance(10.0)
        await ref.ask("sync")

        assert received(events) == ["once", "tick"]
        assert clock.pending() == 0


async def test_a_timer_without_a_key_gets_a_fresh_one() -> None:
    events = Events()
    clock = FakeClock()
    async with ActorSystem(ticker(events), clock=clock) as system:
        ref = system.lookup("ticker")
        first = await ref.ask(After(1.0, "a"))
        second = await ref.ask(After(1.0, "b"))
        assert first != second
        assert await ref.ask("count") == 2

        clock.advance(1.0)
        await ref.ask("sync")

        assert received(events) == ["a", "b"]


async def test_every_timer_is_cancelled_when_the_actor_terminates() -> None:
    events = Events()
    clock = FakeClock()
    async with ActorSystem(ticker(events), clock=clock) as system:
        ref = system.lookup("ticker")
        await ref.ask(After(1.0, "once"))
        await ref.ask(Every(1.0, "tick"))

        await system.terminate_child("ticker")
        clock.advance(10.0)

        assert clock.pending() == 0
        assert received(events) == []
        assert system.dead_letters.count == 0


async def test_every_timer_is_cancelled_when_the_actor_restarts() -> None:
    events = Events()
    clock = FakeClock()
    async with ActorSystem(ticker(events), clock=clock) as system:
        ref = system.lookup("ticker")
        await ref.ask(After(1.0, "once"))
        await ref.ask(Every(1.0, "tick"))

        ref.tell(Crash())
        await events.until("start", 2)
        clock.advance(10.0)
        await ref.ask("sync")

        assert received(events) == []
        assert await ref.ask("count") == 0


async def test_a_message_queued_by_an_old_instances_timer_never_reaches_the_new_instance() -> None:
    events = Events()
    clock = FakeClock()
    gate = asyncio.Event()
    async with ActorSystem(ticker(events), clock=clock) as system:
        ref = system.lookup("ticker")
        await ref.ask(Every(1.0, "tick"))
        ref.tell(Hold(gate))
        ref.tell(Crash())
        await events.until("hold")
        clock.advance(1.0)  # the tick is queued behind the crash
        assert ref.mailbox_size() == 2

        gate.set()
        await events.until("start", 2)
        await ref.ask("sync")

        assert received(events) == []


# -- death watch -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watch:
    ref: ActorRef


@dataclass(frozen=True)
class Unwatch:
    ref: ActorRef


class Watcher(Actor):
    """Watch and unwatch on command; keep every Terminated in ``seen``."""

    def __init__(self, seen: list[Terminated], arrived: asyncio.Event) -> None:
        self.seen = seen
        self.arrived = arrived

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Watch):
            self.watch(message.ref)
        elif isinstance(message, Unwatch):
            self.unwatch(message.ref)
        elif isinstance(message, Terminated):
            self.seen.append(message)
            self.arrived.set()
        return None


class WatchFixture:
    """A system with ``/watcher`` and ``/target`` (a probe of the given restart type)."""

    def __init__(self, restart: Restart = Restart.PERMANENT) -> None:
        self.events = Events()
        self.seen: list[Terminated] = []
        self.arrived = asyncio.Event()
        self.system = ActorSystem(
            [
                ChildSpec("watcher", lambda: Watcher(self.seen, self.arrived)),
                probe_spec("target", self.events, restart),
            ],
            clock=FakeClock(),
        )

    async def __aenter__(self) -> WatchFixture:
        await self.system.start()
        self.watcher = self.system.lookup("watcher")
        self.target = self.system.lookup("target")
        await self.watcher.ask(Watch(self.target))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.system.shutdown()


async def test_a_watcher_receives_terminated_with_the_error_when_a_temporary_child_crashes() -> (
    None
):
    async with WatchFixture(Restart.TEMPORARY) as fixture:
        crash = Crash(Boom("gone"))
        fixture.target.tell(crash)
        await fixture.arrived.wait()

        assert fixture.seen == [Terminated(fixture.target, crash.error)]
        assert fixture.seen[0].ref is fixture.target
        assert fixture.seen[0].error is crash.error


async def test_a_watcher_receives_terminated_without_error_when_a_child_is_terminated() -> None:
    async with WatchFixture() as fixture:
        await fixture.system.terminate_child("target")
        await fixture.arrived.wait()

        assert fixture.seen == [Terminated(fixture.target, None)]


async def test_a_watcher_receives_terminated_when_a_transient_child_stops_normally() -> None:
    async with WatchFixture(Restart.TRANSIENT) as fixture:
        fixture.target.tell(StopSelf())
        await fixture.arrived.wait()

        assert fixture.seen == [Terminated(fixture.target, None)]


async def test_a_restart_is_not_a_termination_and_sends_no_terminated() -> None:
    async with WatchFixture() as fixture:
        fixture.target.tell(Crash())
        await fixture.events.until("start:target", 2)
        await fixture.watcher.ask("sync")

        assert fixture.seen == []
        assert fixture.target.is_alive()

        # The watch still holds across the restart.
        await fixture.system.terminate_child("target")
        await fixture.arrived.wait()
        assert fixture.seen == [Terminated(fixture.target, None)]


async def test_watching_an_already_dead_actor_delivers_terminated_at_once() -> None:
    async with WatchFixture() as fixture:
        await fixture.watcher.ask(Unwatch(fixture.target))
        await fixture.system.terminate_child("target")
        await fixture.watcher.ask("sync")
        assert fixture.seen == []

        await fixture.watcher.ask(Watch(fixture.target))
        await fixture.watcher.ask("sync")

        assert fixture.seen == [Terminated(fixture.target, None)]


async def test_an_unwatched_actor_sends_no_terminated() -> None:
    async with WatchFixture() as fixture:
        await fixture.watcher.ask(Unwatch(fixture.target))

        await fixture.system.terminate_child("target")
        await fixture.watcher.ask("sync")

        assert fixture.seen == []


async def test_a_dead_watcher_is_forgotten_by_the_actor_it_watched() -> None:
    async with WatchFixture() as fixture:
        await fixture.system.terminate_child("watcher")

        await fixture.system.terminate_child("target")

        assert fixture.system.dead_letters.by_reason["dead"] == 0


async def test_wait_terminated_returns_the_error_that_ended_the_actor() -> None:
    async with WatchFixture(Restart.TEMPORARY) as fixture:
        crash = Crash(Boom("gone"))
        waiting = asyncio.create_task(fixture.target.wait_terminated())
        fixture.target.tell(crash)

        assert await waiting is crash.error
        assert await fixture.target.wait_terminated() is crash.error  # at once, when dead


async def test_wait_terminated_returns_none_after_a_normal_termination() -> None:
    async with WatchFixture() as fixture:
        waiting = asyncio.create_task(fixture.target.wait_terminated())
        await fixture.system.terminate_child("target")

        assert await waiting is None
