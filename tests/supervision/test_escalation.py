"""Restart intensity and escalation up the tree, with a FakeClock for exact windows."""

from __future__ import annotations

from typing import Any

import pytest

from supervision import (
    Actor,
    ActorSystem,
    ChildSpec,
    FakeClock,
    RestartIntensityExceeded,
    Strategy,
    Supervisor,
    SystemFailed,
)
from tests.supervision.probes import Boom, Crash, Events, no_leaked_tasks, probe_spec


def middle_supervisor(events: Events) -> ChildSpec:
    """Return ``/mid``: a supervisor of ``leaf`` and ``sibling`` allowing 1 restart in 5 s."""
    return ChildSpec(
        "mid",
        lambda: Supervisor(
            [probe_spec("leaf", events), probe_spec("sibling", events)], intensity=1, period=5.0
        ),
    )


async def test_a_crash_loop_escalates_through_two_supervisors_until_the_system_fails() -> None:
    events = Events()
    clock = FakeClock()
    async with no_leaked_tasks():
        system = ActorSystem(
            [middle_supervisor(events), probe_spec("bystander", events)],
            intensity=1,
            period=5.0,
            clock=clock,
        )
        await system.start()
        mid = system.lookup("/mid")
        leaf = system.lookup("/mid/leaf")
        sibling = system.lookup("/mid/sibling")
        bystander = system.lookup("/bystander")

        # One restart within the period: /mid restarts the leaf by itself.
        leaf.tell(Crash())
        await events.until("start:leaf", 2)
        assert events.since(3) == ["crash:leaf", "stop:leaf", "start:leaf"]

        # A second one exceeds /mid's intensity: /mid stops its children and fails, and the
        # root restarts it; its children come back behind the same refs.
        mark = len(events.log)
        leaf.tell(Crash())
        await events.until("start:sibling", 2)
        assert events.since(mark) == [
            "crash:leaf",
            "stop:leaf",
            "stop:sibling",
            "start:leaf",
            "start:sibling",
        ]
        assert system.lookup("/mid") is mid
        assert system.lookup("/mid/leaf") is leaf
        assert system.lookup("/mid/sibling") is sibling
        assert await leaf.ask("back") == "back"
        assert await sibling.ask("back") == "back"
        escalation = system.dead_letters.recent()[-1]
        assert escalation.recipient == "/mid"
        assert escalation.reason == "crashed"
        assert isinstance(escalation.error, RestartIntensityExceeded)
        assert escalation.error.path == "/mid"
        assert isinstance(escalation.error.__cause__, Boom)

        # The restarted /mid starts with a fresh restart history: it restarts the leaf once...
        leaf.tell(Crash())
        await events.until("start:leaf", 4)
        assert system.root.is_alive()

        # ...and gives up again on the next crash, which exceeds the root's intensity too.
        mark = len(events.log)
        leaf.tell(Crash())
        with pytest.raises(SystemFailed) as failed:
            await system.wait_terminated()

        cause = failed.value.__cause__
        assert isinstance(cause, RestartIntensityExceeded)
        assert cause.path == "/"
        assert isinstance(cause.__cause__, RestartIntensityExceeded)
        assert cause.__cause__.path == "/mid"
        assert events.since(mark) == ["crash:leaf", "stop:leaf", "stop:sibling", "stop:bystander"]
        assert not any(ref.is_alive() for ref in (system.root, mid, leaf, sibling, bystander))
        assert system.paths() == []
        assert not system.running
        await system.shutdown()  # idempotent after a failure


async def test_restarts_further_apart_than_the_period_never_escalate() -> None:
    events = Events()
    clock = FakeClock()
    async with ActorSystem(
        [probe_spec("p", events)], intensity=1, period=5.0, clock=clock
    ) as system:
        ref = system.lookup("p")
        for restarts in range(2, 6):
            ref.tell(Crash())
            await events.until("start:p", restarts)
            clock.advance(5.0)

        assert system.running
        assert await ref.ask("alive") == "alive"


async def test_the_restart_that_exceeds_the_intensity_within_the_period_escalates() -> None:
    events = Events()
    clock = FakeClock()
    system = ActorSystem([probe_spec("p", events)], intensity=2, period=5.0, clock=clock)
    await system.start()
    ref = system.lookup("p")
    for restarts in range(2, 4):
        ref.tell(Crash())
        await events.until("start:p", restarts)
        clock.advance(2.0)

    # Restarts at 0 s and 2 s; the one at 4 s is the third within 5 s.
    ref.tell(Crash())
    with pytest.raises(SystemFailed):
        await system.wait_terminated()
    assert events.count("start:p") == 3


async def test_with_intensity_zero_the_first_exit_makes_the_supervisor_fail() -> None:
    events = Events()
    system = ActorSystem([probe_spec("p", events)], intensity=0, clock=FakeClock())
    await system.start()

    system.lookup("p").tell(Crash())

    with pytest.raises(SystemFailed) as failed:
        await system.wait_terminated()
    assert isinstance(failed.value.__cause__, RestartIntensityExceeded)
    assert events.log == ["start:p", "crash:p", "stop:p"]


async def test_a_supervisor_that_gives_up_stops_its_other_children_in_reverse_order() -> None:
    events = Events()
    children = [probe_spec(name, events) for name in ("a", "b", "c", "d")]
    system = ActorSystem(children, intensity=0, clock=FakeClock())
    await system.start()

    system.lookup("b").tell(Crash())

    with pytest.raises(SystemFailed):
        await system.wait_terminated()
    assert events.since(4) == ["crash:b", "stop:b", "stop:d", "stop:c", "stop:a"]


async def test_a_restart_whose_on_start_fails_counts_against_the_intensity() -> None:
    events = Events()
    starts = 0

    class FailsToRestart(Actor):
        async def on_start(self) -> None:
            nonlocal starts
            starts += 1
            events.record(f"start:{starts}")
            if starts > 1:
                raise Boom("cannot start again")

        async def on_receive(self, message: Any) -> Any:
            raise Boom("crash")

    system = ActorSystem(
        [ChildSpec("fragile", FailsToRestart)], intensity=3, period=5.0, clock=FakeClock()
    )
    await system.start()

    system.lookup("fragile").tell("crash")

    with pytest.raises(SystemFailed) as failed:
        await system.wait_terminated()
    # One crash, then three failed restarts: the fourth restart exceeds intensity 3.
    assert events.log == ["start:1", "start:2", "start:3", "start:4"]
    cause = failed.value.__cause__
    assert isinstance(cause, RestartIntensityExceeded)
    assert isinstance(cause.__cause__, Boom)
    assert str(cause.__cause__) == "cannot start again"


async def test_a_supervisor_restarted_by_its_parent_starts_all_its_children_again_in_order() -> (
    None
):
    events = Events()
    inner = ChildSpec(
        "inner",
        lambda: Supervisor(
            [probe_spec("x", events), probe_spec("y", events)],
            strategy=Strategy.ONE_FOR_ALL,
            intensity=0,
        ),
    )
    async with ActorSystem([inner], clock=FakeClock()) as system:
        x, y = system.lookup("x"), system.lookup("y")
        y.tell(Crash())
        await events.until("start:y", 2)

        assert events.log == [
            "start:x",
            "start:y",
            "crash:y",
            "stop:y",
            "stop:x",
            "start:x",
            "start:y",
        ]
        assert [await x.ask(1), await y.ask(2)] == [1, 2]
