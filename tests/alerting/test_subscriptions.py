"""Subscribers hear every durable transition in seq order, and resume with no gap or duplicate."""

from __future__ import annotations

import asyncio

from actors.alerting import Subscribe, Subscribed, Unsubscribe
from messages import Acknowledge, AlertTransition, ErrorReply, TransitionKind
from tests.alerting.builders import firing, resolved
from tests.alerting.harness import Box, running


def seqs(box: Box) -> list[int]:
    return [t.seq for t in box.transitions()]


async def test_a_subscriber_receives_every_transition_after_its_seq_in_order() -> None:
    async with running() as run:
        run.manager.tell(firing(host="before"))
        ref, box = await run.subscriber("sub")
        reply = await run.manager.ask(Subscribe(ref))
        assert reply == Subscribed(seq=1)
        run.manager.tell(firing(host="a"))
        run.manager.tell(firing(host="a", value=2.0))
        await run.manager.ask(Acknowledge(alert_id="alert-2", by="ann"))
        run.manager.tell(resolved(host="a"))
        await box.until_count(4)
        kinds = [t.kind for t in box.transitions()]
        assert kinds == [
            TransitionKind.ALERT_OPENED,
            TransitionKind.ALERT_UPDATED,
            TransitionKind.ALERT_ACKNOWLEDGED,
            TransitionKind.ALERT_RESOLVED,
        ]
        assert seqs(box) == [2, 3, 4, 5]
        assert box.transitions()[2].payload["by"] == "ann"


async def test_a_subscription_with_a_snapshot_gets_the_alerts_as_of_its_seq() -> None:
    async with running() as run:
        run.manager.tell(firing(host="a"))
        run.manager.tell(firing(host="b"))
        ref, box = await run.subscriber("sub")
        reply = await run.manager.ask(Subscribe(ref, snapshot=True))
        assert isinstance(reply, Subscribed)
        assert reply.seq == 2
        assert sorted(a.alert_id for a in reply.alerts) == ["alert-1", "alert-2"]
        run.manager.tell(firing(host="c"))
        [event] = await box.until_count(1)
        assert isinstance(event, AlertTransition)
        assert event.seq == 3


async def test_a_resumed_subscription_replays_what_it_missed_then_goes_live() -> None:
    async with running() as run:
        for host in "abcde":
            run.manager.tell(firing(host=host))
        ref, box = await run.subscriber("sub")
        assert await run.manager.ask(Subscribe(ref, resume_from=2)) == Subscribed(seq=2)
        for host in "fg":
            run.manager.tell(firing(host=host))
        await box.until_count(5)
        await run.settle()
        assert seqs(box) == [3, 4, 5, 6, 7]


async def test_events_committed_during_a_long_replay_arrive_once_in_order() -> None:
    async with running() as run:
        for index in range(1200):  # more than two pages of replay
            run.manager.tell(firing(host=f"h{index}"))
        ref, box = await run.subscriber("sub")
        await run.manager.ask(Subscribe(ref, resume_from=0))
        for index in range(300):
            run.manager.tell(firing(host=f"late{index}"))
            if index % 50 == 0:
                await asyncio.sleep(0)  # let replay pages and live commits interleave
        await box.until_count(1500)
        await run.settle()
        assert seqs(box) == list(range(1, 1501))


async def test_resuming_from_a_seq_beyond_the_last_is_invalid() -> None:
    async with running() as run:
        ref, _box = await run.subscriber("sub")
        reply = await run.manager.ask(Subscribe(ref, resume_from=5))
        assert isinstance(reply, ErrorReply)
        assert (reply.code, reply.field) == ("invalid", "resume_from")


async def test_an_unsubscribed_or_terminated_subscriber_hears_nothing_more() -> None:
    async with running() as run:
        first, first_box = await run.subscriber("first")
        second, _ = await run.subscriber("second")
        await run.manager.ask(Subscribe(first))
        await run.manager.ask(Subscribe(second))
        assert (await run.status()).subscribers == 2
        assert await run.manager.ask(Unsubscribe(first)) is True
        await run.system.terminate_child("second")
        run.manager.tell(firing())
        await run.settle()
        assert (await run.status()).subscribers == 0
        assert first_box.items == []
