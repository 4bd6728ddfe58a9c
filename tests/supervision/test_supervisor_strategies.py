"""Every strategy and restart type through a real system; ordered start and shutdown; backoff."""

from __future__ import annotations

import asyncio

import pytest

from supervision import (
    Actor,
    ActorNotFound,
    ActorSystem,
    Backoff,
    ChildSpec,
    FakeClock,
    Restart,
    Strategy,
    Supervisor,
)
from tests.supervision.probes import (
    Crash,
    Events,
    Hold,
    StopSelf,
    idle,
    no_leaked_tasks,
    probe_spec,
    until,
)

NAMES = ["first", "exiting", "last"]

# As OTP: permanent restarts after any exit, transient only after a crash, temporary never.
RESTARTED = {
    (Restart.PERMANENT, "crash"): True,
    (Restart.PERMANENT, "self_stop"): True,
    (Restart.TRANSIENT, "crash"): True,
    (Restart.TRANSIENT, "self_stop"): False,
    (Restart.TEMPORARY, "crash"): False,
    (Restart.TEMPORARY, "self_stop"): False,
}

# What follows the exit of "exiting" when it is restarted: the others stop in reverse
# start order, then everyone affected starts again in start order.
RESTART_EVENTS = {
    Strategy.ONE_FOR_ONE: ["stop:exiting", "start:exiting"],
    Strategy.ONE_FOR_ALL: [
        "stop:exiting",
        "stop:last",
        "stop:first",
        "start:first",
        "start:exiting",
        "start:last",
    ],
    Strategy.REST_FOR_ONE: ["stop:exiting", "stop:last", "start:exiting", "start:last"],
}


@pytest.mark.parametrize("exit_kind", ["crash", "self_stop"])
@pytest.mark.parametrize("restart", list(Restart))
@pytest.mark.parametrize("strategy", list(Strategy))
async def test_the_strategy_and_restart_type_decide_which_children_restart_or_terminate(
    strategy: Strategy, restart: Restart, exit_kind: str
) -> None:
    events = Events()
    children = [probe_spec(name, events, restart) for name in NAMES]
    async with (
        no_leaked_tasks(),
        ActorSystem(children, strategy=strategy, clock=FakeClock()) as system,
    ):
        refs = {name: system.lookup(name) for name in NAMES}
        mark = len(events.log)

        if exit_kind == "crash":
            refs["exiting"].tell(Crash())
            trigger = "crash:exiting"
        else:
            refs["exiting"].tell(StopSelf())
            trigger = "self-stop:exiting"

        if RESTARTED[restart, exit_kind]:
            expected = [trigger, *RESTART_EVENTS[strategy]]
            await events.until(expected[-1], 2)
            survivors = NAMES
        else:
            # Not restarted: terminated for good, and the siblings are left alone.
            error = await refs["exiting"].wait_terminated()
            assert (error is not None) is (exit_kind == "crash")
            expected = [trigger, "stop:exiting"]
            survivors = ["first", "last"]
            assert not refs["exiting"].is_alive()
            with pytest.raises(ActorNotFound):
                system.lookup("exiting")

        for name in survivors:
            assert system.lookup(name) is refs[name]
            assert await refs[name].ask(name) == name
        assert [c.name for c in await system.which_children()] == survivors
        assert [c.ref for c in await system.which_children()] == [refs[name] for name in survivors]
        # Nothing else happened: no extra restart, no extra stop.
        assert events.since(mark) == expected + [f"got:{n}:{n}" for n in survivors]


@pytest.mark.parametrize("strategy", [Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE])
async def test_a_temporary_sibling_stopped_by_the_strategy_is_terminated_not_restarted(
    strategy: Strategy,
) -> None:
    # As OTP: a temporary child is never restarted, not even when a sibling's exit makes
    # a one_for_all or rest_for_one supervisor stop it.
    events = Events()
    children = [
        probe_spec("first", events),
        probe_spec("exiting", events),
        probe_spec("last", events, Restart.TEMPORARY),
    ]
    async with ActorSystem(children, strategy=strategy, clock=FakeClock()) as system:
        last = system.lookup("last")
        mark = len(events.log)

        system.lookup("exiting").tell(Crash())
        await events.until("start:exiting", 2)

        assert [c.name for c in await system.which_children()] == ["first", "exiting"]
        assert await last.wait_terminated() is None
        assert "start:last" not in events.since(mark)


async def test_a_transient_sibling_stopped_by_the_strategy_is_restarted() -> None:
    events = Events()
    children = [probe_spec("exiting", events), probe_spec("last", events, Restart.TRANSIENT)]
    async with ActorSystem(children, strategy=Strategy.REST_FOR_ONE, clock=FakeClock()) as system:
        system.lookup("exiting").tell(Crash())
        await events.until("start:last", 2)

        assert await system.lookup("last").ask("ok") == "ok"


# -- ordered start and shutdown -----------------------------------------------------------------


class SlowStarter(Actor):
    """Record the beginning and the end of ``on_start``, yielding in between."""

    def __init__(self, name: str, events: Events, gate: asyncio.Event | None = None) -> None:
        self.name = name
        self.events = events
        self.gate = gate

    async def on_start(self) -> None:
        self.events.record(f"begin:{self.name}")
        if self.gate is not None:
            await self.gate.wait()
        await idle()
        self.events.record(f"end:{self.name}")


async def test_each_childs_on_start_completes_before_the_next_child_starts() -> None:
    events = Events()
    gate = asyncio.Event()
    system = ActorSystem(
        [
            ChildSpec("a", lambda: SlowStarter("a", events, gate)),
            ChildSpec("b", lambda: SlowStarter("b", events)),
            ChildSpec("c", lambda: SlowStarter("c", events)),
        ],
        clock=FakeClock(),
    )
    starting = asyncio.create_task(system.start())
    await events.until("begin:a")
    await idle()
    assert events.log == ["begin:a"]

    gate.set()
    await starting
    await system.shutdown()

    assert events.log == ["begin:a", "end:a", "begin:b", "end:b", "begin:c", "end:c"]


async def test_children_stop_in_reverse_start_order_depth_first() -> None:
    events = Events()
    children = [
        probe_spec("a", events),
        ChildSpec("sup", lambda: Supervisor([probe_spec("x", events), probe_spec("y", events)])),
        probe_spec("c", events),
    ]
    async with ActorSystem(children, clock=FakeClock()):
        assert events.log == ["start:a", "start:x", "start:y", "start:c"]

    assert events.since(4) == ["stop:c", "stop:y", "stop:x", "stop:a"]


class HangsInStop(Actor):
    """Signal ``inside`` when ``on_stop`` begins, then wait forever (until cancelled)."""

    def __init__(self, events: Events, inside: asyncio.Event) -> None:
        self.events = events
        self.inside = inside

    async def on_stop(self) -> None:
        self.inside.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.events.record("hang-cancelled")
            raise


async def test_a_child_whose_on_stop_hangs_is_cancelled_after_its_shutdown_timeout() -> None:
    events = Events()
    inside = asyncio.Event()
    clock = FakeClock()
    children = [
        probe_spec("a", events),
        ChildSpec("hang", lambda: HangsInStop(events, inside), shutdown=1.0),
        probe_spec("c", events),
    ]
    async with no_leaked_tasks():
        system = ActorSystem(children, clock=clock)
        await system.start()
        refs = [system.lookup(name) for name in ("a", "hang", "c")]

        shutting_down = asyncio.create_task(system.shutdown())
        await inside.wait()
        clock.advance(0.999)
        await idle()
        assert not shutting_down.done()
        assert events.log == ["start:a", "start:c", "stop:c"]

        clock.advance(0.001)
        await shutting_down

        assert events.log == ["start:a", "start:c", "stop:c", "hang-cancelled", "stop:a"]
        assert not any(ref.is_alive() for ref in refs)
        assert system.paths() == []


async def test_a_child_stuck_in_a_message_is_cancelled_after_its_shutdown_timeout() -> None:
    events = Events()
    clock = FakeClock()
    async with no_leaked_tasks():
        system = ActorSystem([probe_spec("stuck", events, shutdown=2.0)], clock=clock)
        await system.start()
        system.lookup("stuck").tell(Hold(asyncio.Event()))
        await events.until("hold:stuck")

        shutting_down = asyncio.create_task(system.shutdown())
        await until(lambda: clock.pending() == 2)  # the child's and the root's shutdown
        clock.advance(2.0)
        await shutting_down

        # The task was cancelled inside the message: on_stop does not run.
        assert events.log == ["start:stuck", "hold:stuck"]


async def test_a_sibling_hanging_in_on_stop_during_a_one_for_all_restart_is_cancelled() -> None:
    events = Events()
    inside = asyncio.Event()
    clock = FakeClock()
    children = [
        ChildSpec("hang", lambda: HangsInStop(events, inside), shutdown=3.0),
        probe_spec("exiting", events),
    ]
    async with ActorSystem(children, strategy=Strategy.ONE_FOR_ALL, clock=clock) as system:
        system.lookup("exiting").tell(Crash())
        await inside.wait()

        clock.advance(3.0)
        await events.until("start:exiting", 2)

        assert events.log == [
            "start:exiting",
            "crash:exiting",
            "stop:exiting",
            "hang-cancelled",
            "start:exiting",
        ]
        inside.clear()
        shutting_down = asyncio.create_task(system.shutdown())
        await inside.wait()
        clock.advance(3.0)
        await shutting_down


# -- backoff ---------------------------------------------------------------------------------------


async def scheduled_restart_delay(system: ActorSystem, clock: FakeClock) -> float:
    """Return the delay of the one restart the root has scheduled.

    Call once the exiting child's ``on_stop`` has run: its exit is then queued at the root
    ahead of this ask, so the reply comes after the root handled it.
    """
    children = await system.which_children()
    assert "stopped" in {child.state for child in children}
    due = clock.next_due()
    assert due is not None
    assert clock.pending() == 1
    return due - clock.now()


async def test_with_backoff_a_restart_waits_for_the_delay_while_messages_queue() -> None:
    events = Events()
    clock = FakeClock()
    backoff = Backoff(min=2.0, max=10.0, factor=2.0, jitter=0.0)
    async with ActorSystem([probe_spec("p", events)], clock=clock, backoff=backoff) as system:
        ref = system.lookup("p")
        ref.tell(Crash())
        ref.tell("a")
        await events.until("stop:p")
        assert await scheduled_restart_delay(system, clock) == 2.0

        clock.advance(1.999)
        ref.tell("b")
        await idle()
        assert events.log == ["start:p", "crash:p", "stop:p"]
        assert ref.mailbox_size() == 2

        clock.advance(0.001)
        assert await ref.ask("c") == "c"

        assert events.log == [
            "start:p",
            "crash:p",
            "stop:p",
            "start:p",
            "got:p:a",
            "got:p:b",
            "got:p:c",
        ]


async def test_with_backoff_consecutive_restarts_wait_longer_up_to_the_maximum() -> None:
    events = Events()
    clock = FakeClock()
    backoff = Backoff(min=1.0, max=3.0, factor=2.0, jitter=0.0, reset_after=100.0)
    async with ActorSystem(
        [probe_spec("p", events)], clock=clock, backoff=backoff, intensity=10, period=1000.0
    ) as system:
        ref = system.lookup("p")
        delays = []
        for restarts in range(1, 5):
            ref.tell(Crash())
            await events.until("stop:p", restarts)
            delays.append(await scheduled_restart_delay(system, clock))
            clock.advance(delays[-1])
            await events.until("start:p", restarts + 1)

        assert delays == [1.0, 2.0, 3.0, 3.0]


async def test_with_backoff_a_child_that_ran_reset_after_seconds_restarts_after_the_minimum() -> (
    None
):
    events = Events()
    clock = FakeClock()
    backoff = Backoff(min=1.0, max=10.0, factor=2.0, jitter=0.0, reset_after=30.0)
    async with ActorSystem([probe_spec("p", events)], clock=clock, backoff=backoff) as system:
        ref = system.lookup("p")
        ref.tell(Crash())
        await events.until("stop:p")
        assert await scheduled_restart_delay(system, clock) == 1.0
        clock.advance(1.0)
        await events.until("start:p", 2)

        clock.advance(30.0)
        ref.tell(Crash())
        await events.until("stop:p", 2)

        assert await scheduled_restart_delay(system, clock) == 1.0
        clock.advance(1.0)
        await events.until("start:p", 3)


async def test_with_backoff_one_for_all_stops_siblings_at_once_and_restarts_them_later() -> None:
    events = Events()
    clock = FakeClock()
    backoff = Backoff(min=5.0, jitter=0.0)
    children = [probe_spec("a", events), probe_spec("b", events)]
    async with ActorSystem(
        children, clock=clock, strategy=Strategy.ONE_FOR_ALL, backoff=backoff
    ) as system:
        system.lookup("b").tell(Crash())
        await events.until("stop:a")
        assert await scheduled_restart_delay(system, clock) == 5.0
        assert events.since(2) == ["crash:b", "stop:b", "stop:a"]

        clock.advance(5.0)
        await events.until("start:b", 2)

        assert events.since(5) == ["start:a", "start:b"]
