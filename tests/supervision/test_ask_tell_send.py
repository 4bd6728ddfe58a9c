"""tell, ask and send: replies, timeouts, dead actors, deferred replies, bounded mailboxes."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import pytest

from supervision import (
    Actor,
    ActorDead,
    ActorSystem,
    AskTimeout,
    ChildSpec,
    FakeClock,
    MailboxFull,
    Reply,
)
from tests.supervision.probes import Events, Hold, idle, no_leaked_tasks, probe_spec, until

# -- ask -----------------------------------------------------------------------------------------


async def test_ask_returns_what_the_handler_returns() -> None:
    events = Events()
    async with ActorSystem([probe_spec("p", events)], clock=FakeClock()) as system:
        assert await system.lookup("p").ask({"x": 1}) == {"x": 1}


async def test_ask_without_a_timeout_waits_for_the_reply() -> None:
    events = Events()
    gate = asyncio.Event()
    clock = FakeClock()
    async with ActorSystem([probe_spec("p", events)], clock=clock) as system:
        asking = asyncio.create_task(system.lookup("p").ask(Hold(gate), timeout=None))
        await events.until("hold:p")
        clock.advance(3600.0)
        assert not asking.done()

        gate.set()

        assert await asking == "released"


async def test_an_ask_unanswered_within_its_timeout_raises_ask_timeout_naming_the_actor() -> None:
    events = Events()
    gate = asyncio.Event()
    clock = FakeClock()
    async with ActorSystem([probe_spec("slow", events)], clock=clock) as system:
        ref = system.lookup("slow")
        asking = asyncio.create_task(ref.ask(Hold(gate), timeout=3.0))
        await events.until("hold:slow")

        clock.advance(2.999)
        await idle()
        assert not asking.done()
        clock.advance(0.001)

        with pytest.raises(AskTimeout) as raised:
            await asking
        assert raised.value.path == "/slow"
        assert raised.value.timeout == 3.0
        assert "/slow" in str(raised.value)
        assert isinstance(raised.value, TimeoutError)

        # The late reply is dropped; the actor carries on.
        gate.set()
        assert await ref.ask("next") == "next"


async def test_asks_queued_behind_a_slow_message_fail_with_actor_dead_when_it_is_terminated() -> (
    None
):
    events = Events()
    gate = asyncio.Event()
    async with (
        no_leaked_tasks(),
        ActorSystem([probe_spec("slow", events)], clock=FakeClock()) as system,
    ):
        ref = system.lookup("slow")
        in_flight = asyncio.create_task(ref.ask(Hold(gate)))
        await events.until("hold:slow")
        queued = [asyncio.create_task(ref.ask(n)) for n in range(3)]
        await until(lambda: ref.mailbox_size() == 3)
        ref.tell("told")

        terminating = asyncio.create_task(system.terminate_child("slow"))
        await until(lambda: not ref.is_alive())
        gate.set()
        await terminating

        # The current message finishes; what is queued behind it is not processed.
        assert await in_flight == "released"
        for asking in queued:
            with pytest.raises(ActorDead) as raised:
                await asking
            assert raised.value.path == "/slow"
        assert events.log == ["start:slow", "hold:slow", "stop:slow"]
        stopped = [(d.message, d.reason) for d in system.dead_letters.recent()]
        assert stopped == [(0, "stopped"), (1, "stopped"), (2, "stopped"), ("told", "stopped")]


async def test_an_ask_cut_off_by_the_shutdown_timeout_fails_with_actor_dead() -> None:
    events = Events()
    clock = FakeClock()
    async with (
        no_leaked_tasks(),
        ActorSystem([probe_spec("stuck", events, shutdown=1.0)], clock=clock) as system,
    ):
        ref = system.lookup("stuck")
        in_flight = asyncio.create_task(ref.ask(Hold(asyncio.Event()), timeout=None))
        await events.until("hold:stuck")

        terminating = asyncio.create_task(system.terminate_child("stuck"))
        await until(lambda: not ref.is_alive())
        clock.advance(1.0)
        await terminating

        with pytest.raises(ActorDead):
            await in_flight


async def test_ask_to_a_dead_actor_raises_actor_dead() -> None:
    events = Events()
    async with ActorSystem([probe_spec("p", events)], clock=FakeClock()) as system:
        ref = system.lookup("p")
        await system.terminate_child("p")

        with pytest.raises(ActorDead) as raised:
            await ref.ask("hello")

        assert raised.value.path == "/p"
        assert "/p" in str(raised.value)


async def test_tell_to_a_dead_actor_becomes_a_dead_letter_with_reason_dead() -> None:
    events = Events()
    async with ActorSystem([probe_spec("p", events)], clock=FakeClock()) as system:
        ref = system.lookup("p")
        await system.terminate_child("p")

        ref.tell("hello")

        [letter] = system.dead_letters.recent()
        assert (letter.message, letter.recipient, letter.reason) == ("hello", "/p", "dead")
        assert letter.error is None


async def test_send_to_a_dead_actor_raises_actor_dead() -> None:
    events = Events()
    async with ActorSystem([probe_spec("p", events)], clock=FakeClock()) as system:
        ref = system.lookup("p")
        await system.terminate_child("p")

        with pytest.raises(ActorDead):
            await ref.send("hello")


# -- deferred replies ------------------------------------------------------------------------------


class Deferring(Actor):
    """Park the reply of every "wait" ask; answer them all on "answer" or "refuse"."""

    def __init__(self, events: Events) -> None:
        self.events = events
        self.parked: list[Reply] = []

    async def on_start(self) -> None:
        self.events.record("start")

    async def on_receive(self, message: Any) -> Any:
        if message == "wait":
            self.parked.append(self.defer_reply())
            return "the return value is ignored"
        if message == "answer":
            for reply in self.parked:
                reply.set("answered")
        elif message == "refuse":
            for reply in self.parked:
                reply.fail(LookupError("refused"))
        elif message == "wanted":
            return [reply.wanted for reply in self.parked]
        return None


def deferring(events: Events) -> ChildSpec:
    return ChildSpec("deferring", lambda: Deferring(events))


async def test_a_deferred_reply_answers_the_ask_later_instead_of_the_return_value() -> None:
    events = Events()
    async with ActorSystem([deferring(events)], clock=FakeClock()) as system:
        ref = system.lookup("deferring")
        first = asyncio.create_task(ref.ask("wait"))
        second = asyncio.create_task(ref.ask("wait"))
        await asyncio.sleep(0)  # both asking tasks queue their message
        assert await ref.ask("wanted") == [True, True]
        assert not first.done()

        ref.tell("answer")

        assert [await first, await second] == ["answered", "answered"]
        assert await ref.ask("wanted") == [False, False]


async def test_a_failed_deferred_reply_raises_in_the_asker_without_crashing_the_actor() -> None:
    events = Events()
    async with ActorSystem([deferring(events)], clock=FakeClock()) as system:
        ref = system.lookup("deferring")
        asking = asyncio.create_task(ref.ask("wait"))
        await asyncio.sleep(0)  # the asking task queues its message

        ref.tell("refuse")

        with pytest.raises(LookupError, match="refused"):
            await asking
        assert await ref.ask("wanted") == [False]  # the same instance, still running
        assert events.log == ["start"]
        assert system.dead_letters.count == 0


async def test_a_deferred_reply_keeps_only_its_first_answer() -> None:
    events = Events()
    async with ActorSystem([deferring(events)], clock=FakeClock()) as system:
        ref = system.lookup("deferring")
        asking = asyncio.create_task(ref.ask("wait"))
        await asyncio.sleep(0)  # the asking task queues its message
        ref.tell("answer")
        ref.tell("refuse")

        assert await asking == "answered"
        assert await ref.ask("wanted") == [False]


async def test_a_deferred_reply_to_a_told_message_is_not_wanted_and_drops_answers() -> None:
    events = Events()
    async with ActorSystem([deferring(events)], clock=FakeClock()) as system:
        ref = system.lookup("deferring")
        ref.tell("wait")
        ref.tell("answer")

        assert await ref.ask("wanted") == [False]
        assert system.dead_letters.count == 0


# -- bounded mailboxes ---------------------------------------------------------------------------


async def full_mailbox(system: ActorSystem, events: Events, gate: asyncio.Event) -> None:
    """Park ``/p`` (capacity 2) in a held message and fill its mailbox with 1 and 2."""
    ref = system.lookup("p")
    ref.tell(Hold(gate))
    await events.until("hold:p")
    ref.tell(1)
    ref.tell(2)
    assert ref.mailbox_size() == 2


def bounded(events: Events) -> list[ChildSpec]:
    return [probe_spec("p", events, mailbox_size=2)]


async def test_tell_on_a_full_mailbox_becomes_a_dead_letter_with_reason_mailbox_full() -> None:
    events = Events()
    gate = asyncio.Event()
    async with ActorSystem(bounded(events), clock=FakeClock()) as system:
        await full_mailbox(system, events, gate)
        ref = system.lookup("p")

        ref.tell(3)

        [letter] = system.dead_letters.recent()
        assert (letter.message, letter.recipient, letter.reason) == (3, "/p", "mailbox_full")
        assert isinstance(letter.error, MailboxFull)
        assert letter.error.capacity == 2
        assert ref.mailbox_size() == 2
        gate.set()
        await ref.ask("end")
        assert events.since(2) == ["got:p:1", "got:p:2", "got:p:end"]


async def test_send_waits_for_room_in_a_full_mailbox_and_completes_when_the_actor_drains() -> None:
    events = Events()
    gate = asyncio.Event()
    async with ActorSystem(bounded(events), clock=FakeClock()) as system:
        await full_mailbox(system, events, gate)
        ref = system.lookup("p")

        sending = asyncio.create_task(ref.send(3))
        await idle()
        assert not sending.done()

        gate.set()
        await sending
        await ref.ask("end")

        assert events.since(2) == ["got:p:1", "got:p:2", "got:p:3", "got:p:end"]
        assert system.dead_letters.count == 0


async def test_send_raises_mailbox_full_when_no_room_appears_within_its_timeout() -> None:
    events = Events()
    gate = asyncio.Event()
    clock = FakeClock()
    async with ActorSystem(bounded(events), clock=clock) as system:
        await full_mailbox(system, events, gate)
        ref = system.lookup("p")
        sending = asyncio.create_task(ref.send("late", timeout=1.0))
        await until(lambda: clock.pending() == 1)

        clock.advance(1.0)

        with pytest.raises(MailboxFull) as raised:
            await sending
        assert raised.value.path == "/p"
        gate.set()
        await ref.ask("end")
        assert "got:p:late" not in events.log


async def test_waiting_senders_are_served_in_the_order_they_arrived() -> None:
    events = Events()
    gate = asyncio.Event()
    async with ActorSystem(bounded(events), clock=FakeClock()) as system:
        await full_mailbox(system, events, gate)
        ref = system.lookup("p")
        senders = []
        for n in range(3, 8):
            senders.append(asyncio.create_task(ref.send(n)))
            await asyncio.sleep(0)

        gate.set()
        await asyncio.gather(*senders)
        await ref.ask("end")

        assert events.since(2) == [f"got:p:{n}" for n in range(1, 8)] + ["got:p:end"]


async def test_each_senders_messages_arrive_in_the_order_it_sent_them() -> None:
    events = Events()
    gate = asyncio.Event()
    async with ActorSystem([probe_spec("p", events, mailbox_size=1)], clock=FakeClock()) as system:
        ref = system.lookup("p")
        ref.tell(Hold(gate))
        await events.until("hold:p")

        async def produce(tag: str) -> None:
            for n in range(20):
                await ref.send(f"{tag}{n}")

        producers = [asyncio.create_task(produce(tag)) for tag in "abc"]
        await idle()
        gate.set()
        await asyncio.gather(*producers)
        await ref.ask("end")

        received = [e.removeprefix("got:p:") for e in events.log if e.startswith("got:p:")]
        for tag in "abc":
            assert [m for m in received if m.startswith(tag)] == [f"{tag}{n}" for n in range(20)]
        assert len(received) == 61
        assert system.dead_letters.count == 0


async def test_senders_waiting_for_room_fail_with_actor_dead_when_the_actor_terminates() -> None:
    events = Events()
    gate = asyncio.Event()
    async with ActorSystem(bounded(events), clock=FakeClock()) as system:
        await full_mailbox(system, events, gate)
        ref = system.lookup("p")
        sending = asyncio.create_task(ref.send(3))
        asking = asyncio.create_task(ref.ask(4))
        await idle()

        terminating = asyncio.create_task(system.terminate_child("p"))
        await until(lambda: not ref.is_alive())
        gate.set()
        await terminating

        with pytest.raises(ActorDead):
            await sending
        with pytest.raises(ActorDead):
            await asking


async def test_ask_on_a_full_mailbox_waits_for_room_then_for_the_reply() -> None:
    events = Events()
    gate = asyncio.Event()
    async with ActorSystem(bounded(events), clock=FakeClock()) as system:
        await full_mailbox(system, events, gate)
        ref = system.lookup("p")
        asking = asyncio.create_task(ref.ask("question"))
        await idle()
        assert not asking.done()

        gate.set()

        assert await asking == "question"
        assert system.dead_letters.count == 0


async def test_an_ask_waiting_for_room_times_out_with_ask_timeout() -> None:
    events = Events()
    gate = asyncio.Event()
    clock = FakeClock()
    async with ActorSystem(bounded(events), clock=clock) as system:
        await full_mailbox(system, events, gate)
        ref = system.lookup("p")
        asking = asyncio.create_task(ref.ask("question", timeout=2.0))
        await until(lambda: clock.pending() == 1)

        clock.advance(2.0)

        with pytest.raises(AskTimeout):
            await asking
        gate.set()
        await ref.ask("end")
        assert "got:p:question" not in events.log


async def test_tell_to_a_live_unbounded_actor_never_blocks_nor_raises() -> None:
    events = Events()
    gate = asyncio.Event()
    async with ActorSystem([probe_spec("p", events)], clock=FakeClock()) as system:
        ref = system.lookup("p")
        ref.tell(Hold(gate))
        for n in range(10_000):
            ref.tell(n)

        assert ref.mailbox_size() == 10_001
        gate.set()
        await ref.ask("end")
        assert events.count("got:p:9999") == 1


# -- references ----------------------------------------------------------------------------------


class _Payload:
    """A message that can be referenced weakly."""


async def test_an_idle_actor_keeps_no_reference_to_its_last_message() -> None:
    handled = asyncio.Event()

    class Sink(Actor):
        async def on_receive(self, message: Any) -> Any:
            handled.set()
            return None

    async with ActorSystem([ChildSpec("sink", Sink)], clock=FakeClock()) as system:
        payload = _Payload()
        alive = weakref.ref(payload)
        system.lookup("sink").tell(payload)
        del payload
        await handled.wait()
        # The handler returned without suspending, so the actor is idle again by now.
        assert alive() is None
