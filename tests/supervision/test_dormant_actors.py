"""Actors with nothing to run at start get their task with their first message."""

from __future__ import annotations

from typing import Any

from supervision import Actor, ActorSystem, ChildSpec, FakeClock
from tests.supervision.probes import no_leaked_tasks


class Echo(Actor):
    async def on_receive(self, message: Any) -> Any:
        if message == "boom":
            raise RuntimeError("boom")
        return message


class Stopping(Actor):
    def __init__(self, stops: list[str]) -> None:
        self.stops = stops

    async def on_stop(self) -> None:
        self.stops.append("stopped")


async def test_an_idle_actor_without_start_or_stop_hooks_has_no_task_until_a_message() -> None:
    async with no_leaked_tasks(), ActorSystem(clock=FakeClock()) as system:
        ref = await system.spawn(Echo, "echo")
        cell = ref._cell
        assert cell.task is None

        assert await ref.ask("hello") == "hello"

        assert cell.task is not None


async def test_an_actor_with_an_on_stop_hook_runs_it_even_if_it_never_received_a_message() -> None:
    stops: list[str] = []
    async with no_leaked_tasks(), ActorSystem(clock=FakeClock()) as system:
        ref = await system.spawn(lambda: Stopping(stops), "stopping")
        await system.terminate_child("stopping")
        assert not ref.is_alive()
    assert stops == ["stopped"]


async def test_a_dormant_actor_is_terminated_cleanly_and_its_ref_becomes_dead() -> None:
    async with no_leaked_tasks(), ActorSystem(clock=FakeClock()) as system:
        ref = await system.spawn(Echo, "echo")
        await system.terminate_child("echo")
        assert not ref.is_alive()
        assert await ref.wait_terminated() is None


async def test_messages_queued_for_a_restarted_actor_wake_its_new_instance() -> None:
    spec = ChildSpec("echo", Echo)
    async with no_leaked_tasks(), ActorSystem([spec], clock=FakeClock()) as system:
        ref = system.lookup("/echo")
        ref.tell("boom")
        ref.tell("queued behind the crash")

        assert await ref.ask("after") == "after"
        assert system.dead_letters.by_reason["crashed"] == 1
