"""History and analytics: queries by time, rule, label and state; counts and mean times."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from actors.alerting._analytics import alert_stats, flapping, noisiest_rules
from actors.store import SqliteStore, StoredEvent
from messages import (
    Acknowledge,
    AlertState,
    AlertStats,
    FlappingReport,
    HistoryPage,
    NoisiestRules,
    QueryAlertStats,
    QueryFlapping,
    QueryHistory,
    QueryNoisiestRules,
    Resolve,
    TransitionKind,
)
from tests.alerting.builders import T0, firing, fp, resolved
from tests.alerting.harness import Running, running

# -- the analytics, on plain events ------------------------------------------------------------


def event(
    seq: int, kind: str, at: float, alert_id: str, rule_id: str = "cpu", **payload: Any
) -> StoredEvent:
    return StoredEvent(
        seq=seq,
        kind=kind,
        at=at,
        payload={"labels": {"alertname": rule_id}, **payload},
        alert_id=alert_id,
        fingerprint=fp(rule_id, host=alert_id),
        rule_id=rule_id,
    )


def test_stats_count_per_rule_and_average_the_times_to_acknowledge_and_resolve() -> None:
    events = [
        event(1, "alert_opened", T0, "a1"),
        event(2, "alert_opened", T0 + 10, "a2"),
        event(3, "alert_opened", T0 + 20, "m1", "mem"),
        event(4, "alert_acknowledged", T0 + 30, "a1"),
        event(5, "alert_resolved", T0 + 100, "a1", manual=False),
        event(6, "alert_resolved", T0 + 50, "a2", manual=True),
        event(7, "alert_acknowledged", T0 + 999, "gone"),  # opened before the range
    ]
    stats = alert_stats(events, QueryAlertStats())
    cpu, mem = stats.rules
    assert (cpu.rule_id, cpu.opened, cpu.acknowledged, cpu.resolved) == ("cpu", 2, 1, 2)
    assert cpu.manually_resolved == 1
    assert cpu.mean_time_to_acknowledge_s == 30
    assert cpu.mean_time_to_resolve_s == (100 + 40) / 2
    assert (mem.opened, mem.mean_time_to_acknowledge_s, mem.mean_time_to_resolve_s) == (
        1,
        None,
        None,
    )
    assert (stats.total.rule_id, stats.total.opened, stats.total.resolved) == ("*", 3, 2)


def test_stats_count_only_alerts_opened_before_the_end() -> None:
    events = [event(1, "alert_opened", T0, "a1"), event(2, "alert_opened", T0 + 60, "a2")]
    assert alert_stats(events, QueryAlertStats(end=T0 + 60)).total.opened == 1


def test_a_fingerprint_that_opens_more_than_the_threshold_is_flapping() -> None:
    events = [event(n, "alert_opened", T0 + n, "h1") for n in range(1, 5)]
    events += [event(n, "alert_opened", T0 + n, "h2") for n in range(5, 8)]
    report = flapping(events, QueryFlapping(min_cycles=3))
    [alert] = report.alerts
    assert (alert.fingerprint, alert.cycles) == (fp(host="h1"), 4)
    assert (alert.first_opened_at, alert.last_opened_at) == (T0 + 1, T0 + 4)
    assert len(flapping(events, QueryFlapping(min_cycles=2)).alerts) == 2


def test_the_noisiest_rules_opened_most_then_updated_most() -> None:
    events = [
        event(1, "alert_opened", T0, "a", "cpu"),
        event(2, "alert_opened", T0, "b", "disk"),
        event(3, "alert_updated", T0, "b", "disk"),
        event(4, "alert_opened", T0, "c", "mem"),
        event(5, "alert_opened", T0, "d", "mem"),
    ]
    report = noisiest_rules(events, QueryNoisiestRules(limit=2))
    assert [(r.rule_id, r.opened, r.updates) for r in report.rules] == [
        ("mem", 2, 0),
        ("disk", 1, 1),
    ]


def test_a_time_range_must_end_after_it_starts() -> None:
    with pytest.raises(ValidationError):
        QueryHistory(start=T0 + 10, end=T0)


# -- through the actor, on SQLite ---------------------------------------------------------------


async def history(run: Running, **query: Any) -> HistoryPage:
    page = await run.manager.ask(QueryHistory(**query))
    assert isinstance(page, HistoryPage)
    return page


async def scenario(run: Running) -> None:
    """cpu/a: opened T0, acked T0+30, resolved T0+90; cpu/b flaps 4 times; mem/a fires."""
    run.manager.tell(firing(host="a"))
    for cycle in range(4):
        run.manager.tell(firing(host="b", starts_at=T0 + cycle))
        run.manager.tell(resolved(host="b"))
    await run.settle()  # handled at T0, before the clock moves
    run.clock.advance(30)
    await run.manager.ask(Acknowledge(alert_id="alert-1", by="ann"))
    run.clock.advance(60)
    await run.manager.ask(Resolve(alert_id="alert-1", by="bob"))
    run.manager.tell(firing("mem", host="a"))
    await run.settle()


async def test_history_filters_by_rule_label_kind_state_and_time() -> None:
    async with SqliteStore(":memory:") as store, running(store) as run:
        await scenario(run)
        page = await history(run, rule_id="mem")
        assert [e.kind for e in page.events] == [TransitionKind.ALERT_OPENED]
        page = await history(run, labels={"host": "a"}, kinds=[TransitionKind.ALERT_OPENED])
        assert [e.rule_id for e in page.events] == ["cpu", "mem"]
        page = await history(run, states=[AlertState.ACKNOWLEDGED])
        assert [(e.kind, e.alert_id) for e in page.events] == [
            (TransitionKind.ALERT_ACKNOWLEDGED, "alert-1")
        ]
        page = await history(run, start=T0 + 30, end=T0 + 90)
        assert [e.kind for e in page.events] == [TransitionKind.ALERT_ACKNOWLEDGED]
        page = await history(run, alert_id="alert-1")
        assert [e.kind for e in page.events] == [
            TransitionKind.ALERT_OPENED,
            TransitionKind.ALERT_ACKNOWLEDGED,
            TransitionKind.ALERT_RESOLVED,
        ]


async def test_history_pages_follow_each_other_without_overlap() -> None:
    async with SqliteStore(":memory:") as store, running(store) as run:
        await scenario(run)
        seen: list[int] = []
        since = 0
        while True:
            page = await history(run, since_seq=since, limit=3)
            seen += [e.seq for e in page.events]
            since = page.last_seq
            if not page.more:
                break
        assert seen == list(range(1, (await run.status()).last_seq + 1))


async def test_analytics_queries_answer_from_the_durable_history() -> None:
    async with SqliteStore(":memory:") as store, running(store) as run:
        await scenario(run)
        stats = await run.manager.ask(QueryAlertStats(rule_id="cpu"))
        assert isinstance(stats, AlertStats)
        [cpu] = stats.rules
        assert (cpu.opened, cpu.acknowledged, cpu.resolved, cpu.manually_resolved) == (5, 1, 5, 1)
        assert cpu.mean_time_to_acknowledge_s == 30
        report = await run.manager.ask(QueryFlapping(min_cycles=3))
        assert isinstance(report, FlappingReport)
        assert [(a.fingerprint, a.cycles) for a in report.alerts] == [(fp(host="b"), 4)]
        noisy = await run.manager.ask(QueryNoisiestRules())
        assert isinstance(noisy, NoisiestRules)
        assert [(r.rule_id, r.opened) for r in noisy.rules] == [("cpu", 5), ("mem", 1)]
