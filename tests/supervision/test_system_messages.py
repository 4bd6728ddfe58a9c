"""tell_system past a bounded mailbox, and what a ref tells about its mailbox and restarts."""

from __future__ import annotations

import asyncio
from typing import Any

from supervision import (
    Actor,
    ActorRef,
    ActorSystem,
    ChildSpec,
    FakeClock,
    MailboxFull,
    Terminated,
)
from tests.supervision.probes import Crash, Events, Hold, idle, probe_spec


async def park_with_a_full_mailbox(ref: ActorRef, events: Events, gate: asyncio.Event) -> None:
    """Hold ``ref`` (a probe of capacity 2) in a message and fill its mailbox."""
    ref.tell(Hold(gate))
    await events.until(f"hold:{ref.name}")
    ref.tell(1)
    ref.tell(2)
    assert ref.mailbox_size() == ref.mailbox_capacity() == 2


async def test_tell_system_queues_past_a_full_bounded_mailbox_in_order_with_the_rest() -> None:
    events = Events()
    gate = asyncio.Event()
    async with ActorSystem([probe_spec("p", events, mailbox_size=2)], clock=FakeClock()) as system:
        ref = system.lookup("p")
        await park_with_a_full_mailbox(ref, events, gate)

        ref.tell_system("route-update")
        ref.tell("refused")  # the bound still holds for ordinary messages

        assert ref.mailbox_size() == 3
        [letter] = system.dead_letters.recent()
        assert (letter.message, letter.reason) == ("refused", "mailbox_full")
        sending = asyncio.create_task(ref.send("later"))
        gate.set()
        await sending
        await ref.ask("end")
        received = [e.removeprefix("got:p:") for e in events.log if e.startswith("got:p:")]
        assert received == ["1", "2", "route-update", "later", "end"]


async def test_a_system_message_does_not_wait_behind_senders_waiting_for_room() -> None:
    events = Events()
    gate = asyncio.Event()
    async with ActorSystem([probe_spec("p", events, mailbox_size=2)], clock=FakeClock()) as system:
        ref = system.lookup("p")
        await park_with_a_full_mailbox(ref, events, gate)
        sending = asyncio.create_task(ref.send("waiting"))
        await idle()
        assert not sending.done()

        ref.tell_system("control")
        gate.set()
        await sending
        await ref.ask("end")

        received = [e.removeprefix("got:p:") for e in events.log if e.startswith("got:p:")]
        # The control message was queued while "waiting" had no room yet: it goes first,
        # and the waiting sender still gets its place once the actor drains.
        assert received == ["1", "2", "control", "waiting", "end"]
        assert system.dead_letters.count == 0


async def test_tell_system_to_a_dead_actor_becomes_a_dead_letter_with_reason_dead() -> None:
    events = Events()
    async with ActorSystem([probe_spec("p", events)], clock=FakeClock()) as system:
        ref = system.lookup("p")
        await system.terminate_child("p")

        ref.tell_system("too late")

        [letter] = system.dead_letters.recent()
        assert (letter.message, letter.recipient, letter.reason) == ("too late", "/p", "dead")
        assert letter.error is None


async def test_mailbox_capacity_is_none_for_an_unbounded_mailbox_and_the_bound_otherwise() -> None:
    events = Events()
    specs = [probe_spec("free", events), probe_spec("bounded", events, mailbox_size=7)]
    async with ActorSystem(specs, clock=FakeClock()) as system:
        assert system.lookup("free").mailbox_capacity() is None
        assert system.lookup("bounded").mailbox_capacity() == 7


class Watcher(Actor):
    """Watch the ref it is told; park on a Hold; keep every Terminated."""

    def __init__(self, seen: list[Terminated], arrived: asyncio.Event) -> None:
        self.seen = seen
        self.arrived = arrived

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, ActorRef):
            self.watch(message)
        elif isinstance(message, Hold):
            await message.gate.wait()
        elif isinstance(message, Terminated):
            self.seen.append(message)
            self.arrived.set()
        return None


async def test_a_watcher_with_a_full_bounded_mailbox_still_receives_terminated() -> None:
    events = Events()
    seen: list[Terminated] = []
    arrived = asyncio.Event()
    gate = asyncio.Event()
    specs = [
        ChildSpec("watcher", lambda: Watcher(seen, arrived), mailbox_size=1),
        probe_spec("target", events),
    ]
    async with ActorSystem(specs, clock=FakeClock()) as system:
        watcher, target = system.lookup("watcher"), system.lookup("target")
        await watcher.ask(target)
        watcher.tell(Hold(gate))
        await idle()
        watcher.tell("filler")
        assert watcher.mailbox_size() == 1

        await system.terminate_child("target")
        gate.set()
        await asyncio.wait_for(arrived.wait(), timeout=30.0)

        assert seen == [Terminated(target, None)]
        assert not any(isinstance(d.error, MailboxFull) for d in system.dead_letters.recent())


async def test_restarts_counts_the_starts_after_the_first_one() -> None:
    events = Events()
    async with ActorSystem([probe_spec("p", events)], clock=FakeClock()) as system:
        ref = system.lookup("p")
        assert ref.restarts() == 0
        for crashes in (1, 2):
            ref.tell(Crash())
            await events.until("start:p", crashes + 1)
            assert ref.restarts() == crashes
