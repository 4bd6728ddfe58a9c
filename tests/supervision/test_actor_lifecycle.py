"""One actor's life: start, messages in order, crash and restart behind the same ref."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from supervision import Actor, ActorSystem, ChildSpec, FakeClock, Restart, Supervisor
from tests.supervision.probes import (
    Boom,
    Crash,
    Events,
    Hold,
    StopSelf,
    idle,
    no_leaked_tasks,
    probe_spec,
)


async def test_an_actor_processes_its_messages_one_at_a_time_in_mailbox_order() -> None:
    events = Events()
    async with ActorSystem([probe_spec("p", events)], clock=FakeClock()) as system:
        ref = system.lookup("p")
        for n in range(5):
            ref.tell(n)

        assert await ref.ask("last") == "last"

    assert events.log == [
        "start:p",
        *(f"got:p:{n}" for n in range(5)),
        "got:p:last",
        "stop:p",
    ]


async def test_an_actor_without_on_start_processes_messages_as_soon_as_it_is_started() -> None:
    class Echo(Actor):
        async def on_receive(self, message: Any) -> Any:
            return message

    async with ActorSystem([ChildSpec("echo", Echo)], clock=FakeClock()) as system:
        assert await system.lookup("echo").ask("hi") == "hi"


async def test_an_actor_sees_its_ref_path_system_and_clock() -> None:
    seen: dict[str, object] = {}

    class Introspective(Actor):
        async def on_start(self) -> None:
            seen.update(ref=self.ref, path=self.path, system=self.system, clock=self.clock)

    clock = FakeClock()
    async with ActorSystem(
        [ChildSpec("sup", lambda: Supervisor([ChildSpec("me", Introspective)]))], clock=clock
    ) as system:
        assert seen == {
            "ref": system.lookup("/sup/me"),
            "path": "/sup/me",
            "system": system,
            "clock": clock,
        }


async def test_a_restarted_actor_keeps_the_same_ref_which_still_answers_asks() -> None:
    events = Events()
    async with ActorSystem([probe_spec("p", events)], clock=FakeClock()) as system:
        ref = system.lookup("p")

        ref.tell(Crash())
        await events.until("start:p", 2)

        assert system.lookup("p") is ref
        assert ref.is_alive()
        assert await ref.ask("still there") == "still there"
        assert [c.ref for c in await system.which_children()] == [ref]


async def test_each_restart_builds_a_fresh_instance_from_the_factory() -> None:
    instances: list[Actor] = []

    class Counter(Actor):
        def __init__(self) -> None:
            self.count = 0
            instances.append(self)

        async def on_receive(self, message: Any) -> Any:
            if message == "crash":
                raise Boom("crash")
            self.count += 1
            return self.count

    async with ActorSystem([ChildSpec("counter", Counter)], clock=FakeClock()) as system:
        ref = system.lookup("counter")
        assert [await ref.ask("inc") for _ in range(3)] == [1, 2, 3]

        ref.tell("crash")

        assert await ref.ask("inc") == 1
        assert len(instances) == 2
        assert instances[0] is not instances[1]


async def test_messages_queued_during_a_crash_are_handled_by_the_new_instance_in_order() -> None:
    events = Events()
    gate = asyncio.Event()
    async with ActorSystem([probe_spec("p", events)], clock=FakeClock()) as system:
        ref = system.lookup("p")
        ref.tell(Hold(gate))
        ref.tell(Crash())
        for n in range(3):
            ref.tell(n)
        await events.until("hold:p")

        gate.set()
        assert await ref.ask("after") == "after"

    assert events.log == [
        "start:p",
        "hold:p",
        "crash:p",
        "stop:p",
        "start:p",
        "got:p:0",
        "got:p:1",
        "got:p:2",
        "got:p:after",
        "stop:p",
    ]


async def test_the_message_that_crashed_an_actor_is_not_processed_again() -> None:
    events = Events()
    async with ActorSystem([probe_spec("p", events)], clock=FakeClock()) as system:
        ref = system.lookup("p")
        ref.tell(Crash())

        await ref.ask("ping")

        assert events.count("crash:p") == 1
        assert events.count("start:p") == 2


async def test_the_message_that_crashed_an_actor_is_a_dead_letter_with_reason_crashed() -> None:
    events = Events()
    crash = Crash(Boom("kaput"))
    async with ActorSystem([probe_spec("p", events)], clock=FakeClock()) as system:
        ref = system.lookup("p")
        ref.tell(crash)
        await ref.ask("ping")

        [letter] = system.dead_letters.recent()
        assert letter.message is crash
        assert letter.recipient == "/p"
        assert letter.reason == "crashed"
        assert letter.error is crash.error


async def test_the_asker_of_the_crashing_message_gets_its_exception() -> None:
    events = Events()
    crash = Crash(Boom("kaput"))
    async with ActorSystem([probe_spec("p", events)], clock=FakeClock()) as system:
        ref = system.lookup("p")

        with pytest.raises(Boom) as raised:
            await ref.ask(crash)

        assert raised.value is crash.error
        assert await ref.ask("ping") == "ping"


async def test_the_old_instances_on_stop_completes_before_the_new_instances_on_start_begins() -> (
    None
):
    events = Events()
    stop_gate = asyncio.Event()

    class SlowToStop(Actor):
        async def on_start(self) -> None:
            events.record("start")

        async def on_receive(self, message: Any) -> Any:
            raise Boom("crash")

        async def on_stop(self) -> None:
            events.record("stop-begin")
            await stop_gate.wait()
            events.record("stop-end")

    async with ActorSystem([ChildSpec("slow", SlowToStop)], clock=FakeClock()) as system:
        system.lookup("slow").tell("crash")
        await events.until("stop-begin")
        await idle()
        assert events.log == ["start", "stop-begin"]

        stop_gate.set()
        await events.until("start", 2)

        assert events.log == ["start", "stop-begin", "stop-end", "start"]


async def test_on_failure_runs_after_the_crash_and_before_on_stop() -> None:
    events = Events()

    class Hooks(Actor):
        async def on_start(self) -> None:
            events.record("start")

        async def on_receive(self, message: Any) -> Any:
            events.record(f"receive:{message}")
            raise Boom(message)

        async def on_failure(self, error: BaseException, message: object) -> None:
            events.record(f"failure:{error}:{message}")

        async def on_stop(self) -> None:
            events.record("stop")

    async with ActorSystem([ChildSpec("hooks", Hooks)], clock=FakeClock()) as system:
        system.lookup("hooks").tell("x")
        await events.until("start", 2)

    assert events.log == ["start", "receive:x", "failure:x:x", "stop", "start", "stop"]


async def test_a_permanent_actor_that_stops_itself_finishes_the_message_and_is_restarted() -> None:
    events = Events()
    async with ActorSystem([probe_spec("p", events)], clock=FakeClock()) as system:
        ref = system.lookup("p")
        ref.tell(StopSelf())
        ref.tell("queued")

        await events.until("got:p:queued")

        assert events.log == ["start:p", "self-stop:p", "stop:p", "start:p", "got:p:queued"]
        assert system.dead_letters.count == 0


async def test_an_ask_answered_before_a_self_stop_gets_its_reply() -> None:
    class StopAfterReply(Actor):
        async def on_receive(self, message: Any) -> Any:
            self.stop()
            return f"bye {message}"

    async with ActorSystem(
        [ChildSpec("once", StopAfterReply, Restart.TRANSIENT)], clock=FakeClock()
    ) as system:
        ref = system.lookup("once")

        assert await ref.ask("you") == "bye you"
        assert await ref.wait_terminated() is None
        assert not ref.is_alive()


async def test_a_busy_actor_yields_so_that_another_actor_makes_progress() -> None:
    events = Events()

    class Chatty(Actor):
        async def on_receive(self, message: Any) -> Any:
            if message == 999:
                events.record("chatty-done")

    async with ActorSystem(
        [ChildSpec("chatty", Chatty), probe_spec("other", events)], clock=FakeClock()
    ) as system:
        chatty = system.lookup("chatty")
        for n in range(1000):
            chatty.tell(n)
        system.lookup("other").tell("hello")

        await events.until("chatty-done")

        # THROUGHPUT (300) messages, then a yield: the other actor ran before the 1000th.
        assert events.log.index("got:other:hello") < events.log.index("chatty-done")


async def test_an_actor_crashing_and_restarting_leaves_no_task_behind() -> None:
    events = Events()
    async with no_leaked_tasks():
        async with ActorSystem([probe_spec("p", events)], clock=FakeClock()) as system:
            ref = system.lookup("p")
            for _ in range(3):
                ref.tell(Crash())
            await ref.ask("ping")
        assert not ref.is_alive()
