"""ActorSystem: lookup, paths, start, clean and idempotent shutdown."""

from __future__ import annotations

import asyncio

import pytest

from supervision import ActorNotFound, ActorSystem, ChildSpec, FakeClock, Supervisor
from tests.supervision.probes import Events, no_leaked_tasks, probe_spec


def tree(events: Events) -> list[ChildSpec]:
    """Return ``/a``, ``/sup`` with ``/sup/worker`` and ``/sup/b``, and ``/other/worker``."""
    return [
        probe_spec("a", events),
        ChildSpec(
            "sup", lambda: Supervisor([probe_spec("worker", events), probe_spec("b", events)])
        ),
        ChildSpec("other", lambda: Supervisor([probe_spec("worker", events)])),
    ]


async def test_lookup_finds_an_actor_by_path_and_by_unique_name() -> None:
    events = Events()
    async with ActorSystem(tree(events), clock=FakeClock()) as system:
        by_path = system.lookup("/sup/b")
        by_name = system.lookup("b")

        assert by_path is by_name
        assert by_path.path == "/sup/b"
        assert by_path.name == "b"
        assert await by_path.ask("hi") == "hi"
        assert system.lookup("/") is system.root


@pytest.mark.parametrize("unknown", ["/nobody", "nobody", "/sup/nobody", "/a/b"])
async def test_lookup_of_an_unknown_path_or_name_raises_actor_not_found(unknown: str) -> None:
    events = Events()
    async with ActorSystem(tree(events), clock=FakeClock()) as system:
        with pytest.raises(ActorNotFound) as raised:
            system.lookup(unknown)

        assert unknown in str(raised.value)
        assert isinstance(raised.value, LookupError)


async def test_lookup_of_an_ambiguous_name_raises_actor_not_found() -> None:
    events = Events()
    async with ActorSystem(tree(events), clock=FakeClock()) as system:
        with pytest.raises(ActorNotFound, match="ambiguous"):
            system.lookup("worker")

        assert system.lookup("/other/worker") is not system.lookup("/sup/worker")


async def test_paths_lists_every_live_actor() -> None:
    events = Events()
    async with ActorSystem(tree(events), clock=FakeClock()) as system:
        assert sorted(system.paths()) == [
            "/",
            "/a",
            "/other",
            "/other/worker",
            "/sup",
            "/sup/b",
            "/sup/worker",
        ]

        await system.terminate_child("sup")

        assert sorted(system.paths()) == ["/", "/a", "/other", "/other/worker"]
        with pytest.raises(ActorNotFound):
            system.lookup("/sup/b")


async def test_a_running_system_reports_running_and_its_root() -> None:
    async with ActorSystem(clock=FakeClock()) as system:
        assert system.running
        assert system.root.path == "/"
        assert system.root.is_alive()
        assert await system.which_children() == []


async def test_shutdown_stops_the_whole_tree_and_every_ref_is_dead() -> None:
    events = Events()
    async with no_leaked_tasks():
        system = ActorSystem(tree(events), clock=FakeClock())
        await system.start()
        refs = [system.lookup(path) for path in system.paths()]

        await system.shutdown()

        assert not any(ref.is_alive() for ref in refs)
        assert system.paths() == []
        assert not system.running
        assert events.count("stop:worker") == 2
        await system.wait_terminated()  # a clean shutdown does not raise


async def test_shutdown_is_idempotent_and_concurrent_calls_share_it() -> None:
    events = Events()
    async with no_leaked_tasks():
        system = ActorSystem(tree(events), clock=FakeClock())
        await system.start()

        await asyncio.gather(system.shutdown(), system.shutdown())
        await system.shutdown()

        assert events.count("stop:a") == 1
        assert system.paths() == []


async def test_leaving_the_context_after_an_explicit_shutdown_is_harmless() -> None:
    events = Events()
    async with ActorSystem([probe_spec("a", events)], clock=FakeClock()) as system:
        await system.shutdown()

    assert events.log == ["start:a", "stop:a"]


async def test_wait_terminated_returns_when_another_task_shuts_the_system_down() -> None:
    system = ActorSystem(clock=FakeClock())
    await system.start()
    waiting = asyncio.create_task(system.wait_terminated())
    await asyncio.sleep(0)
    assert not waiting.done()

    await system.shutdown()

    await waiting


async def test_a_system_cannot_be_started_twice() -> None:
    async with ActorSystem(clock=FakeClock()) as system:
        with pytest.raises(RuntimeError, match="already started"):
            await system.start()


async def test_a_system_that_was_never_started_has_no_root_and_cannot_be_waited_for() -> None:
    system = ActorSystem(clock=FakeClock())

    with pytest.raises(RuntimeError, match="not started"):
        system.root  # noqa: B018
    with pytest.raises(RuntimeError, match="never started"):
        await system.wait_terminated()
    assert not system.running
    await system.shutdown()  # nothing to stop


async def test_a_system_uses_the_real_clock_unless_given_one() -> None:
    async with ActorSystem() as system:
        assert system.clock.now() == pytest.approx(asyncio.get_running_loop().time())
