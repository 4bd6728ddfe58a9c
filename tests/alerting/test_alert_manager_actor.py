"""The AlertManager actor: wiring, durability before replies, typed errors, timers, batching."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from actors import FiringAlerts, FiringAlertsQuery
from actors.alerting import AlertManagerConfig
from actors.store import EventQuery, MemoryStore
from messages import (
    Acknowledge,
    AlertDetail,
    AlertList,
    AlertState,
    AlertSummary,
    DeleteRule,
    ErrorReply,
    ExpireSilence,
    GetAlert,
    ListSilences,
    QueryAlerts,
    Resolve,
    RuleError,
    SilenceList,
    SilenceStatus,
    SilenceSummary,
)
from tests.alerting.builders import T0, firing, fp, resolved, silence
from tests.alerting.harness import FlakyStore, GatedStore, running


async def alerts(manager: Any, **query: Any) -> list[AlertSummary]:
    reply = await manager.ask(QueryAlerts(**query))
    assert isinstance(reply, AlertList)
    return list(reply.alerts)


async def test_a_firing_event_opens_an_alert_that_queries_see() -> None:
    async with running() as run:
        run.manager.tell(firing(value=4.0))
        [alert] = await alerts(run.manager)
        assert (alert.alert_id, alert.fingerprint, alert.state) == ("alert-1", fp(), "active")
        assert alert.value == 4.0
        detail = await run.manager.ask(GetAlert(alert_id="alert-1"))
        assert isinstance(detail, AlertDetail)
        assert detail.opened_at == T0


async def test_repeated_firing_events_update_one_alert() -> None:
    async with running() as run:
        for value in (1.0, 2.0, 3.0):
            run.manager.tell(firing(value=value))
        [alert] = await alerts(run.manager)
        assert alert.value == 3.0
        status = await run.status()
        assert (status.alerts, status.last_seq) == (1, 3)


# command -> the kind of the event it must wait for, and a check of its answer
DURABLE_COMMANDS: dict[str, tuple[Any, str, Callable[[Any], bool]]] = {
    "acknowledge": (
        Acknowledge(alert_id="alert-1", by="ann"),
        "alert_acknowledged",
        lambda reply: (reply.state, reply.acknowledged_by) == (AlertState.ACKNOWLEDGED, "ann"),
    ),
    "resolve": (
        Resolve(alert_id="alert-1", by="ann"),
        "alert_resolved",
        lambda reply: reply.state is AlertState.RESOLVED,
    ),
    "create_silence": (
        silence(created_by="ann"),
        "silence_created",
        lambda reply: (reply.status, reply.created_by) == (SilenceStatus.ACTIVE, "ann"),
    ),
    "expire_silence": (
        ExpireSilence(silence_id="silence-1", by="ann"),
        "silence_expired",
        lambda reply: (reply.status, reply.expired_by) == (SilenceStatus.EXPIRED, "ann"),
    ),
}


@pytest.mark.parametrize("name", list(DURABLE_COMMANDS))
async def test_a_command_is_answered_only_once_its_event_is_durable(name: str) -> None:
    command, kind, answered = DURABLE_COMMANDS[name]
    store = GatedStore(MemoryStore())
    await store.open()
    async with running(store) as run:
        run.manager.tell(firing())
        if isinstance(command, ExpireSilence):
            await run.manager.ask(silence('{alertname="mem"}'))
        await run.settle()
        store.hold()
        reply = asyncio.ensure_future(run.manager.ask(command))
        await store.until_waiting()
        assert not reply.done()
        assert await store.inner.query_events(EventQuery(kinds=(kind,))) == []
        store.release()
        assert answered(await reply)
        assert len(await store.inner.query_events(EventQuery(kinds=(kind,)))) == 1


async def test_the_actor_keeps_handling_messages_while_a_batch_is_in_flight() -> None:
    store = GatedStore(MemoryStore())
    await store.open()
    async with running(store) as run:
        store.hold()
        run.manager.tell(firing(host="first"))
        await store.until_waiting()
        for index in range(100):
            run.manager.tell(firing(host=f"h{index}"))
        status = asyncio.ensure_future(run.status())
        await asyncio.sleep(0)
        store.release()
        assert (await status).last_seq == 101
        assert store.appended == 2  # the 100 that arrived meanwhile: one group commit


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (Acknowledge(alert_id="alert-9", by="ann"), "not_found"),
        (Resolve(alert_id="alert-9", by="ann"), "not_found"),
        (ExpireSilence(silence_id="silence-9", by="ann"), "not_found"),
        (Acknowledge(alert_id="alert-2", by="ann"), "illegal_transition"),
        (Resolve(alert_id="alert-2", by="ann"), "illegal_transition"),
        (GetAlert(alert_id="nope"), "not_found"),
        (silence(starts_at=T0 - 10, ends_at=T0 - 1), "invalid"),
        (DeleteRule(rule_id="cpu"), "invalid"),
        ('{"type": "acknowledge", "alert_id": ""}', "invalid"),
        (b"not json", "invalid"),
        ({"type": "no_such_command"}, "invalid"),
        (object(), "invalid"),
    ],
    ids=lambda value: type(value).__name__,
)
async def test_a_bad_command_gets_an_error_reply_and_changes_nothing(
    command: Any, code: str
) -> None:
    async with running() as run:
        run.manager.tell(firing(host="a"))
        run.manager.tell(firing(host="b"))
        run.manager.tell(resolved(host="b"))
        before = await alerts(run.manager)
        last_seq = (await run.status()).last_seq
        reply = await run.manager.ask(command)
        assert isinstance(reply, ErrorReply)
        assert reply.code == code
        assert await alerts(run.manager) == before
        assert (await run.status()).last_seq == last_seq


async def test_a_command_as_raw_json_is_validated_and_applied() -> None:
    async with running() as run:
        run.manager.tell(firing())
        reply = await run.manager.ask(
            b'{"type": "acknowledge", "alert_id": "alert-1", "by": "ann"}'
        )
        assert isinstance(reply, AlertSummary)
        assert reply.state is AlertState.ACKNOWLEDGED


async def test_a_rule_error_is_recorded_in_the_history() -> None:
    async with running() as run:
        run.manager.tell(RuleError(rule_id="cpu", error="boom", at=T0))
        await run.settle()
        [event] = await run.store.query_events(EventQuery(kinds=("rule_error",)))
        assert event.rule_id == "cpu"


async def test_a_manual_resolution_is_answered_with_the_resolved_alert() -> None:
    async with running() as run:
        run.manager.tell(firing())
        reply = await run.manager.ask(Resolve(alert_id="alert-1", by="bob", comment="done"))
        assert isinstance(reply, AlertSummary)
        assert reply.state is AlertState.RESOLVED
        detail = await run.manager.ask(GetAlert(alert_id="alert-1"))
        assert (detail.resolved_by, detail.resolve_comment) == ("bob", "done")


async def test_a_silence_mutes_until_its_end_then_the_alert_is_active_again() -> None:
    async with running() as run:
        run.manager.tell(firing())
        created = await run.manager.ask(silence(ends_at=T0 + 60))
        assert isinstance(created, SilenceSummary)
        assert created.status is SilenceStatus.ACTIVE
        [alert] = await alerts(run.manager)
        assert alert.state is AlertState.SUPPRESSED
        run.clock.advance(60)
        [alert] = await alerts(run.manager)
        assert alert.state is AlertState.ACTIVE
        listed = await run.manager.ask(ListSilences(include_expired=True))
        assert isinstance(listed, SilenceList)
        assert [s.status for s in listed.silences] == [SilenceStatus.EXPIRED]


async def test_a_silence_for_later_starts_on_the_clock() -> None:
    async with running() as run:
        run.manager.tell(firing())
        await run.manager.ask(silence(starts_at=T0 + 30, ends_at=T0 + 90))
        assert (await alerts(run.manager))[0].state is AlertState.ACTIVE
        run.clock.advance(30)
        assert (await alerts(run.manager))[0].state is AlertState.SUPPRESSED
        run.clock.advance(60)
        assert (await alerts(run.manager))[0].state is AlertState.ACTIVE


async def test_an_expired_silence_is_answered_with_who_expired_it_when_and_why() -> None:
    async with running() as run:
        await run.manager.ask(silence())
        run.clock.advance(5)
        command = ExpireSilence(silence_id="silence-1", by="bob", comment="fixed")
        reply = await run.manager.ask(command)
        assert isinstance(reply, SilenceSummary)
        assert (reply.status, reply.expired_by, reply.expired_at, reply.expire_comment) == (
            SilenceStatus.EXPIRED,
            "bob",
            T0 + 5,
            "fixed",
        )


async def test_a_refused_append_is_retried_until_the_store_recovers() -> None:
    store = FlakyStore(MemoryStore())
    await store.open()
    async with running(store) as run:
        run.manager.tell(firing())
        await run.settle()
        store.failures = 2  # the acknowledgement's append fails twice, then succeeds
        ack = asyncio.ensure_future(run.manager.ask(Acknowledge(alert_id="alert-1", by="ann")))
        await store.until_failed(1)
        run.clock.advance(0.05)  # the first retry's backoff
        await store.until_failed(2)
        run.clock.advance(0.1)  # the second's, doubled
        reply = await ack
        assert isinstance(reply, AlertSummary)
        assert (await run.status()).last_seq == 2


async def test_a_store_that_refuses_writes_refuses_new_commands_at_once_and_loses_nothing() -> None:
    store = FlakyStore(MemoryStore())
    await store.open()
    async with running(store) as run:
        run.manager.tell(firing(host="a"))
        await run.settle()
        store.failures = 1_000_000  # the disk is full from now on
        run.manager.tell(firing(host="b"))
        await store.until_failed(1)
        reply = await run.manager.ask(Acknowledge(alert_id="alert-1", by="ann"))
        assert isinstance(reply, ErrorReply)
        assert reply.code == "unavailable"
        assert reply.message.startswith("not done: the store refuses writes (disk full")
        query = await run.manager.ask(QueryAlerts())
        assert isinstance(query, ErrorReply)
        assert query.code == "unavailable"
        store.failures = 0  # the disk has room again
        run.clock.advance(0.05)  # the retry's backoff
        assert (await run.status()).last_seq == 2  # b was held, not dropped
        assert [a.state for a in await alerts(run.manager)] == [AlertState.ACTIVE] * 2
        reply = await run.manager.ask(Acknowledge(alert_id="alert-1", by="ann"))
        assert isinstance(reply, AlertSummary)
        assert reply.state is AlertState.ACKNOWLEDGED


async def test_a_command_waiting_on_a_refused_write_is_answered_not_confirmed_then_stored() -> None:
    store = FlakyStore(MemoryStore())
    await store.open()
    config = AlertManagerConfig(store_retry_for=0.0)
    async with running(store, config=config) as run:
        run.manager.tell(firing(host="a"))
        await run.settle()
        store.failures = 1_000_000
        reply = await run.manager.ask(Acknowledge(alert_id="alert-1", by="ann"))
        assert isinstance(reply, ErrorReply)
        assert reply.code == "unavailable"
        assert reply.message.startswith("not confirmed: the store refuses writes")
        store.failures = 0
        run.clock.advance(0.05)
        assert (await run.status()).last_seq == 2
        [alert] = await alerts(run.manager)
        assert (alert.alert_id, alert.state) == ("alert-1", AlertState.ACKNOWLEDGED)


async def test_an_alert_manager_stops_without_waiting_for_a_store_that_refuses_writes() -> None:
    store = FlakyStore(MemoryStore())
    await store.open()
    async with asyncio.timeout(10), running(store) as run:
        store.failures = 1_000_000
        run.manager.tell(firing(host="a"))
        await store.until_failed(1)
    assert store.appended == 0


async def test_a_restarted_evaluator_learns_which_series_of_its_rule_still_fire() -> None:
    async with running() as run:
        run.manager.tell(firing(host="a", starts_at=T0 + 2))
        run.manager.tell(firing(host="b", starts_at=T0 + 1))
        run.manager.tell(firing(host="c"))
        run.manager.tell(firing("mem", host="a"))
        run.manager.tell(resolved(host="c"))
        await run.manager.ask(Resolve(alert_id="alert-1", by="bob"))  # held: still firing
        reply = await run.manager.ask(FiringAlertsQuery(rule_id="cpu"))
        assert isinstance(reply, FiringAlerts)
        assert [(a.labels["host"], a.starts_at) for a in reply.alerts] == [
            ("b", T0 + 1),
            ("a", T0 + 2),
        ]
        assert reply.alerts[1] == firing(host="a", starts_at=T0 + 2)
        empty = await run.manager.ask(FiringAlertsQuery(rule_id="disk"))
        assert empty.alerts == ()
