"""inject_crash: a real crash of a real actor, for the fault scenarios; and what it counts."""

from __future__ import annotations

import pytest

from supervision import (
    ActorDead,
    ActorNotFound,
    ActorSystem,
    Backoff,
    ChildSpec,
    CrashOrder,
    FakeClock,
    FaultInjectionDisabled,
    InjectedFault,
    Supervisor,
)
from tests.supervision.probes import Events, Hold, no_leaked_tasks, probe_spec, until


async def test_an_injected_crash_restarts_the_actor_and_loses_only_the_poison_order() -> None:
    events = Events()
    async with (
        no_leaked_tasks(),
        ActorSystem([probe_spec("worker", events)], fault_injection=True) as system,
    ):
        worker = system.lookup("/worker")
        worker.tell("one")
        system.inject_crash(worker)
        worker.tell("two")
        assert await worker.ask("three") == "three"

        assert events.log == [
            "start:worker",
            "got:worker:one",
            "stop:worker",
            "start:worker",
            "got:worker:two",
            "got:worker:three",
        ]
        [letter] = system.dead_letters.recent()
        assert isinstance(letter.message, CrashOrder)
        assert (letter.reason, letter.recipient) == ("crashed", "/worker")
        assert isinstance(letter.error, InjectedFault)
        assert system.failures == {"/worker": 1}
        assert system.restart_counts() == {"/worker": 1}
        assert system.escalations == {}


async def test_a_dormant_actor_is_woken_by_the_order_and_crashes() -> None:
    from supervision import Actor

    class Echo(Actor):
        async def on_receive(self, message: object) -> object:
            return message

    async with ActorSystem([ChildSpec("echo", Echo)], fault_injection=True) as system:
        system.inject_crash("/echo")
        await until(lambda: system.failures["/echo"] == 1)
        assert await system.lookup("/echo").ask("after") == "after"
        assert system.restart_counts() == {"/echo": 1}


async def test_a_system_built_without_fault_injection_refuses_to_inject() -> None:
    events = Events()
    async with ActorSystem([probe_spec("worker", events)]) as system:
        with pytest.raises(FaultInjectionDisabled):
            system.inject_crash("/worker")
        with pytest.raises(ActorNotFound):
            ActorSystem(fault_injection=True).lookup("/nobody")
    assert events.log == ["start:worker", "stop:worker"]


async def test_injecting_into_a_terminated_actor_raises_actor_dead() -> None:
    events = Events()
    async with ActorSystem([probe_spec("worker", events)], fault_injection=True) as system:
        worker = system.lookup("/worker")
        await system.terminate_child("worker")
        with pytest.raises(ActorDead):
            system.inject_crash(worker)


async def test_crashes_past_the_intensity_escalate_and_are_counted() -> None:
    events = Events()
    clock = FakeClock()
    inner = ChildSpec(
        "inner", lambda: Supervisor([probe_spec("leaf", events)], intensity=1, period=5.0)
    )
    async with ActorSystem([inner], clock=clock, fault_injection=True) as system:
        system.inject_crash("/inner/leaf")
        await events.until("start:leaf", 2)
        system.inject_crash("/inner/leaf")
        await events.until("start:leaf", 3)
        assert system.escalations == {"/inner": 1}
        assert system.failures == {"/inner/leaf": 2, "/inner": 1}
        # leaf: restarted by /inner once, then again with /inner by the root.
        assert system.restart_counts() == {"/inner": 1, "/inner/leaf": 2}


async def test_an_actor_waiting_for_a_backoff_restart_is_reported_not_running() -> None:
    events = Events()
    clock = FakeClock()
    system = ActorSystem(
        [probe_spec("worker", events), probe_spec("other", events)],
        clock=clock,
        backoff=Backoff(min=1.0, max=1.0, jitter=0.0),
        fault_injection=True,
    )
    async with system:
        assert system.not_running() == []
        system.inject_crash("/worker")
        await events.until("stop:worker")
        # The exit is queued at the root ahead of this ask: the restart is scheduled now.
        await system.which_children()
        assert system.not_running() == ["/worker"]
        assert clock.next_due() == clock.now() + 1.0
        clock.advance(1.0)
        await events.until("start:worker", 2)
        assert system.not_running() == []


async def test_an_order_queued_behind_a_busy_handler_waits_its_turn() -> None:
    import asyncio

    events = Events()
    async with ActorSystem([probe_spec("worker", events)], fault_injection=True) as system:
        worker = system.lookup("/worker")
        gate = asyncio.Event()
        held = asyncio.ensure_future(worker.ask(Hold(gate)))
        await events.until("hold:worker")
        system.inject_crash(worker)
        worker.tell("after")
        gate.set()
        assert await held == "released"
        await events.until("got:worker:after")
        assert events.log == [
            "start:worker",
            "hold:worker",
            "stop:worker",
            "start:worker",
            "got:worker:after",
        ]
