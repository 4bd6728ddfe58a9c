"""Dead letters: every undeliverable or crashing message is counted, kept and published."""

from __future__ import annotations

import asyncio

from supervision import (
    Actor,
    ActorSystem,
    ChildSpec,
    DeadLetter,
    DeadLetters,
    FakeClock,
    MailboxFull,
)
from tests.supervision.probes import Boom, Crash, Events, Hold, probe_spec


def letter(message: object, reason: str = "dead") -> DeadLetter:
    return DeadLetter(message, "/x", reason, None, 0.0)


# -- DeadLetters as plain code ---------------------------------------------------------------------


def test_dead_letters_count_every_letter_by_reason() -> None:
    letters = DeadLetters()
    for reason in ("dead", "dead", "crashed", "unhandled"):
        letters.publish(letter(reason, reason))

    assert letters.count == 4
    assert letters.by_reason == {"dead": 2, "crashed": 1, "unhandled": 1}
    assert letters.by_reason["mailbox_full"] == 0


def test_dead_letters_keep_the_most_recent_oldest_first() -> None:
    letters = DeadLetters(keep=3)
    for n in range(5):
        letters.publish(letter(n))

    assert [d.message for d in letters.recent()] == [2, 3, 4]
    assert letters.count == 5


def test_a_subscriber_gets_every_letter_until_it_unsubscribes() -> None:
    letters = DeadLetters()
    got: list[DeadLetter] = []
    unsubscribe = letters.subscribe(got.append)
    first = letter(1)
    letters.publish(first)

    unsubscribe()
    unsubscribe()  # harmless twice
    letters.publish(letter(2))

    assert got == [first]


def test_a_failing_subscriber_is_logged_and_keeps_its_subscription() -> None:
    letters = DeadLetters()
    got: list[object] = []

    def fragile(dead: DeadLetter) -> None:
        got.append(dead.message)
        raise RuntimeError("subscriber bug")

    letters.subscribe(fragile)
    letters.subscribe(lambda dead: got.append(("second", dead.message)))
    letters.publish(letter(1))
    letters.publish(letter(2))

    assert got == [1, ("second", 1), 2, ("second", 2)]
    assert letters.count == 2


# -- through a running system ----------------------------------------------------------------------


async def test_a_message_the_base_on_receive_gets_is_an_unhandled_dead_letter() -> None:
    async with ActorSystem([ChildSpec("plain", Actor)], clock=FakeClock()) as system:
        ref = system.lookup("plain")
        ref.tell("told")

        assert await ref.ask("asked") is None

        assert [(d.message, d.recipient, d.reason) for d in system.dead_letters.recent()] == [
            ("told", "/plain", "unhandled"),
            ("asked", "/plain", "unhandled"),
        ]
        assert ref.is_alive()


async def test_a_supervisor_records_a_message_it_does_not_understand_as_unhandled() -> None:
    async with ActorSystem(clock=FakeClock()) as system:
        assert await system.root.ask("what?") is None

        assert system.dead_letters.by_reason == {"unhandled": 1}


async def test_dead_letters_carry_the_system_clock_time() -> None:
    clock = FakeClock(start=10.0, epoch=1_000.0)
    async with ActorSystem([ChildSpec("plain", Actor)], clock=clock) as system:
        clock.advance(5.0)
        await system.lookup("plain").ask("late")

        assert system.dead_letters.recent()[0].at == 1_005.0


async def test_every_reason_is_counted_and_published_to_subscribers() -> None:
    events = Events()
    gate = asyncio.Event()
    async with ActorSystem(
        [
            probe_spec("bounded", events, mailbox_size=1),
            probe_spec("crashing", events),
            ChildSpec("plain", Actor),
        ],
        clock=FakeClock(),
    ) as system:
        published: list[DeadLetter] = []
        unsubscribe = system.dead_letters.subscribe(published.append)
        bounded = system.lookup("bounded")

        crash = Crash(Boom("kaput"))
        system.lookup("crashing").tell(crash)
        system.lookup("plain").tell("huh")
        bounded.tell(Hold(gate))
        await events.until("hold:bounded")
        bounded.tell("fits")
        bounded.tell("overflows")
        terminating = asyncio.create_task(system.terminate_child("bounded"))
        await events.until("start:crashing", 2)
        await system.lookup("plain").ask(None)
        gate.set()
        await terminating
        bounded.tell("too late")
        unsubscribe()
        bounded.tell("unseen")

        reasons = [(d.message, d.reason) for d in published]
        assert sorted(reasons, key=str) == sorted(
            [
                (crash, "crashed"),
                ("huh", "unhandled"),
                ("overflows", "mailbox_full"),
                (None, "unhandled"),
                ("fits", "stopped"),
                ("too late", "dead"),
            ],
            key=str,
        )
        assert system.dead_letters.by_reason == {
            "crashed": 1,
            "unhandled": 2,
            "mailbox_full": 1,
            "stopped": 1,
            "dead": 2,
        }
        assert system.dead_letters.count == 7
        errors = {d.reason: d.error for d in published}
        assert errors["crashed"] is crash.error
        assert isinstance(errors["mailbox_full"], MailboxFull)
        assert errors["stopped"] is None
        assert errors["dead"] is None


async def test_the_system_keeps_as_many_recent_dead_letters_as_configured() -> None:
    async with ActorSystem(
        [ChildSpec("plain", Actor)], clock=FakeClock(), dead_letters_kept=2
    ) as system:
        ref = system.lookup("plain")
        for n in range(5):
            ref.tell(n)
        await ref.ask("last")

        assert [d.message for d in system.dead_letters.recent()] == [4, "last"]
        assert system.dead_letters.count == 6
