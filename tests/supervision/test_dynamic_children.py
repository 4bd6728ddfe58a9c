"""Children added and removed at run time: start_child, spawn, terminate_child."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from supervision import (
    Actor,
    ActorNotFound,
    ActorStartError,
    ActorSystem,
    ChildExists,
    ChildInfo,
    ChildSpec,
    FakeClock,
    Restart,
    StartChild,
    Supervisor,
    TerminateChild,
    WhichChildren,
)
from tests.supervision.probes import Boom, Crash, Events, Hold, probe, probe_spec, until


class CrashableSupervisor(Supervisor):
    """A supervisor that crashes on "crash", to be restarted by its own supervisor."""

    async def on_receive(self, message: Any) -> Any:
        if message == "crash":
            raise Boom("supervisor crash")
        return await super().on_receive(message)


class FailsToStart(Actor):
    def __init__(self, events: Events) -> None:
        self.events = events

    async def on_start(self) -> None:
        self.events.record("start:fails")
        raise Boom("no start")

    async def on_stop(self) -> None:
        self.events.record("stop:fails")


async def test_start_child_adds_a_child_after_the_others_and_returns_its_ref() -> None:
    events = Events()
    async with ActorSystem([probe_spec("static", events)], clock=FakeClock()) as system:
        ref = await system.start_child(probe_spec("dynamic", events, Restart.TRANSIENT))

        assert ref is system.lookup("/dynamic")
        assert await ref.ask("hi") == "hi"
        assert await system.which_children() == [
            ChildInfo("static", system.lookup("static"), Restart.PERMANENT, "running"),
            ChildInfo("dynamic", ref, Restart.TRANSIENT, "running"),
        ]
        assert events.log == ["start:static", "start:dynamic", "got:dynamic:hi"]


async def test_spawn_starts_a_child_under_a_parent_given_by_path_or_ref() -> None:
    events = Events()
    children = [ChildSpec("sup", Supervisor)]
    async with ActorSystem(children, clock=FakeClock()) as system:
        by_path = await system.spawn(probe("x", events), "x", parent="/sup")
        by_ref = await system.spawn(
            probe("y", events), "y", parent=system.lookup("sup"), restart=Restart.TEMPORARY
        )

        assert (by_path.path, by_ref.path) == ("/sup/x", "/sup/y")
        assert [(c.name, c.restart) for c in await system.which_children("/sup")] == [
            ("x", Restart.PERMANENT),
            ("y", Restart.TEMPORARY),
        ]


async def test_spawn_passes_the_mailbox_size_and_shutdown_on() -> None:
    events = Events()
    clock = FakeClock()
    async with ActorSystem(clock=clock) as system:
        ref = await system.spawn(probe("x", events), "x", mailbox_size=1, shutdown=0.5)
        ref.tell(Hold(asyncio.Event()))  # held forever
        await events.until("hold:x")
        ref.tell("fits")
        ref.tell("overflows")
        assert system.dead_letters.by_reason == {"mailbox_full": 1}

        terminating = asyncio.create_task(system.terminate_child("x"))
        await until(lambda: not ref.is_alive())
        clock.advance(0.5)

        await until(terminating.done)
        await terminating


async def test_the_same_requests_work_as_asks_to_a_supervisor() -> None:
    events = Events()
    async with ActorSystem(clock=FakeClock()) as system:
        ref = await system.root.ask(StartChild(probe_spec("x", events)))

        infos = await system.root.ask(WhichChildren())
        assert [info.ref for info in infos] == [ref]
        assert await system.root.ask(TerminateChild("x")) is None
        assert not ref.is_alive()


async def test_starting_a_child_with_a_taken_name_raises_child_exists() -> None:
    events = Events()
    async with ActorSystem([probe_spec("taken", events)], clock=FakeClock()) as system:
        original = system.lookup("taken")

        with pytest.raises(ChildExists) as raised:
            await system.start_child(probe_spec("taken", events))

        assert raised.value.path == "/taken"
        assert system.lookup("taken") is original
        assert events.log == ["start:taken"]


async def test_a_child_whose_on_start_fails_raises_actor_start_error_and_is_removed() -> None:
    events = Events()
    async with ActorSystem(clock=FakeClock()) as system:
        with pytest.raises(ActorStartError) as raised:
            await system.start_child(ChildSpec("fails", lambda: FailsToStart(events)))

        assert raised.value.path == "/fails"
        assert isinstance(raised.value.error, Boom)
        assert raised.value.__cause__ is raised.value.error
        assert await system.which_children() == []
        assert system.paths() == ["/"]
        with pytest.raises(ActorNotFound):
            system.lookup("fails")
        assert events.log == ["start:fails"]  # on_stop is not called

        # The name is free again.
        await system.start_child(probe_spec("fails", events))


async def test_a_child_whose_factory_fails_raises_actor_start_error_and_is_removed() -> None:
    def broken() -> Actor:
        raise Boom("no instance")

    async with ActorSystem(clock=FakeClock()) as system:
        with pytest.raises(ActorStartError) as raised:
            await system.start_child(ChildSpec("broken", broken))

        assert isinstance(raised.value.__cause__, Boom)
        assert await system.which_children() == []


async def test_terminate_child_stops_a_child_for_good_and_forgets_it() -> None:
    events = Events()
    async with ActorSystem([probe_spec("a", events)], clock=FakeClock()) as system:
        ref = await system.start_child(probe_spec("b", events))

        await system.terminate_child("b")

        assert not ref.is_alive()
        assert [c.name for c in await system.which_children()] == ["a"]
        assert events.log == ["start:a", "start:b", "stop:b"]
        replacement = await system.start_child(probe_spec("b", events))
        assert replacement is not ref
        assert replacement.is_alive()


async def test_terminate_child_of_an_unknown_name_raises_actor_not_found() -> None:
    async with ActorSystem(clock=FakeClock()) as system:
        with pytest.raises(ActorNotFound) as raised:
            await system.terminate_child("ghost")

        assert raised.value.path == "/ghost"


async def test_a_request_to_an_unknown_parent_raises_actor_not_found() -> None:
    events = Events()
    async with ActorSystem(clock=FakeClock()) as system:
        with pytest.raises(ActorNotFound):
            await system.start_child(probe_spec("x", events), parent="/nowhere")
        with pytest.raises(ActorNotFound):
            await system.which_children("/nowhere")


async def test_a_run_time_child_is_restarted_like_a_static_one() -> None:
    events = Events()
    async with ActorSystem(clock=FakeClock()) as system:
        ref = await system.start_child(probe_spec("x", events))

        ref.tell(Crash())
        await events.until("start:x", 2)

        assert system.lookup("x") is ref
        assert await ref.ask("ok") == "ok"


async def test_run_time_children_survive_their_supervisors_restart_behind_the_same_refs() -> None:
    events = Events()
    children = [
        ChildSpec("sup", lambda: CrashableSupervisor([probe_spec("static", events)])),
    ]
    async with ActorSystem(children, clock=FakeClock()) as system:
        sup = system.lookup("sup")
        dynamic = await system.start_child(probe_spec("dynamic", events), parent=sup)
        static = system.lookup("static")
        mark = len(events.log)

        sup.tell("crash")
        await events.until("start:dynamic", 2)

        assert events.since(mark) == [
            "stop:dynamic",
            "stop:static",
            "start:static",
            "start:dynamic",
        ]
        assert system.lookup("/sup/dynamic") is dynamic
        assert system.lookup("/sup/static") is static
        assert await dynamic.ask("back") == "back"
        assert [c.name for c in await system.which_children(sup)] == ["static", "dynamic"]


async def test_a_supervisor_started_at_run_time_starts_its_own_children() -> None:
    events = Events()
    async with ActorSystem(clock=FakeClock()) as system:
        await system.start_child(
            ChildSpec(
                "team", lambda: Supervisor([probe_spec("x", events), probe_spec("y", events)])
            )
        )

        assert sorted(system.paths()) == ["/", "/team", "/team/x", "/team/y"]
        assert events.log == ["start:x", "start:y"]


async def test_terminating_a_supervisor_terminates_its_children_in_reverse_order() -> None:
    events = Events()
    async with ActorSystem(clock=FakeClock()) as system:
        await system.start_child(
            ChildSpec(
                "team", lambda: Supervisor([probe_spec("x", events), probe_spec("y", events)])
            )
        )
        x, y = system.lookup("x"), system.lookup("y")

        await system.terminate_child("team")

        assert events.log == ["start:x", "start:y", "stop:y", "stop:x"]
        assert not x.is_alive()
        assert not y.is_alive()
        assert system.paths() == ["/"]
