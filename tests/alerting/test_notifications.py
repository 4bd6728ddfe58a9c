"""Routing, grouping and escalation through the actor: who is notified of what, and when."""

from __future__ import annotations

from typing import Any

import pytest

from actors.alerting import AlertManagerConfig
from actors.store import EventQuery, MemoryStore
from messages import (
    Acknowledge,
    AlertDetail,
    AlertResolved,
    DeliveryOutcome,
    DeliveryReceipt,
    DeliveryReceipts,
    GetAlert,
    Notification,
    NotificationKind,
    Resolve,
    Severity,
)
from tests.alerting.builders import firing, resolved, silence
from tests.alerting.harness import GatedStore, Running, running

ROUTE: dict[str, Any] = {
    "receiver": "team",
    "group_by": ["alertname"],
    "group_wait": 0,
    "group_interval": 10,
    "repeat_interval": 3600,
    "escalation": "page",
}
POLICY: dict[str, Any] = {
    "name": "page",
    "levels": [{"after": 60, "receivers": ["oncall"]}, {"after": 120, "receivers": ["lead"]}],
}
CONFIG = AlertManagerConfig.model_validate({"route": ROUTE, "escalation_policies": [POLICY]})


def sent(run: Running) -> list[tuple[str, NotificationKind, str]]:
    return [
        (n.receiver, n.kind, n.idempotency_key)
        for n in run.notifications.items
        if isinstance(n, Notification)
    ]


async def advance(run: Running, seconds: float) -> None:
    """Let what is pending become durable, move the clock, and let the timers' work finish."""
    await run.settle()
    run.clock.advance(seconds)
    await run.settle()


async def test_a_firing_alert_notifies_its_route_receiver_after_group_wait() -> None:
    config = AlertManagerConfig.model_validate(
        {"route": {**ROUTE, "group_wait": 30}, "escalation_policies": [POLICY]}
    )
    async with running(config=config) as run:
        run.manager.tell(firing())
        await advance(run, 29)
        assert sent(run) == []
        await advance(run, 1)
        assert sent(run) == [("team", NotificationKind.FIRING, "alert-1/team/firing")]
        [notification] = run.notifications.items
        assert notification.labels["alertname"] == "cpu"


async def test_every_notification_carries_when_its_alert_started() -> None:
    async with running(config=CONFIG) as run:
        started = run.clock.time() - 300  # the rule fired five minutes before it was told
        run.manager.tell(firing(starts_at=started))
        await advance(run, 0)
        await run.manager.ask(Acknowledge(alert_id="alert-1", by="ann"))
        await advance(run, 60)
        notes = [n for n in run.notifications.items if isinstance(n, Notification)]
        assert [n.kind for n in notes] == [NotificationKind.FIRING, NotificationKind.ACKNOWLEDGED]
        assert {n.starts_at for n in notes} == {started}
        assert all(n.created_at > started for n in notes)


async def test_acknowledgement_and_resolution_are_notified_at_the_next_group_interval() -> None:
    async with running(config=CONFIG) as run:
        run.manager.tell(firing())
        await advance(run, 0)
        await run.manager.ask(Acknowledge(alert_id="alert-1", by="ann"))
        await advance(run, 10)
        run.manager.tell(resolved())
        await advance(run, 10)
        assert [kind for _, kind, _ in sent(run)] == [
            NotificationKind.FIRING,
            NotificationKind.ACKNOWLEDGED,
            NotificationKind.RESOLVED,
        ]


async def test_a_silenced_alert_notifies_nobody_not_even_when_it_resolves() -> None:
    async with running(config=CONFIG) as run:
        await run.manager.ask(silence())
        run.manager.tell(firing())
        await advance(run, 0)
        run.manager.tell(resolved())
        await advance(run, 300)
        assert sent(run) == []


async def test_an_unacknowledged_alert_escalates_level_by_level() -> None:
    async with running(config=CONFIG) as run:
        run.manager.tell(firing())
        await advance(run, 59)
        assert [r for r, kind, _ in sent(run) if kind is NotificationKind.ESCALATED] == []
        await advance(run, 1)
        await advance(run, 120)
        escalated = [(r, key) for r, kind, key in sent(run) if kind is NotificationKind.ESCALATED]
        assert escalated == [
            ("oncall", "alert-1/oncall/escalated/0.0"),
            ("lead", "alert-1/lead/escalated/0.1"),
        ]
        detail = await run.manager.ask(GetAlert(alert_id="alert-1"))
        assert isinstance(detail, AlertDetail)
        assert detail.escalation_level == 1
        events = await run.store.query_events(EventQuery(kinds=("alert_escalated",)))
        assert [e.payload["receivers"] for e in events] == [["oncall"], ["lead"]]
        assert (await run.status()).escalations == 0  # the policy ran its course


STOPS: dict[str, Any] = {
    "acknowledgement": Acknowledge(alert_id="alert-1", by="ann"),
    "manual resolution": Resolve(alert_id="alert-1", by="ann"),
    "automatic resolution": resolved(),
}


@pytest.mark.parametrize("stop", list(STOPS))
async def test_acknowledgement_or_resolution_stops_the_escalation(stop: str) -> None:
    async with running(config=CONFIG) as run:
        run.manager.tell(firing())
        await advance(run, 60)
        if isinstance(STOPS[stop], AlertResolved):
            run.manager.tell(STOPS[stop])
        else:
            await run.manager.ask(STOPS[stop])
        assert (await run.status()).escalations == 0
        await advance(run, 600)
        escalated = [r for r, kind, _ in sent(run) if kind is NotificationKind.ESCALATED]
        assert escalated == ["oncall"]


async def test_a_silence_pauses_escalation_and_its_end_starts_it_again() -> None:
    async with running(config=CONFIG) as run:
        run.manager.tell(firing())
        await run.manager.ask(silence(ends_at=1_700_000_000.0 + 100))
        assert (await run.status()).escalations == 0
        await advance(run, 100)  # the silence ends: the escalation starts from level 0
        assert (await run.status()).escalations == 1
        await advance(run, 60)
        escalated = [r for r, kind, _ in sent(run) if kind is NotificationKind.ESCALATED]
        assert escalated == ["oncall"]


async def test_a_delivery_receipt_is_recorded_in_the_history() -> None:
    async with running(config=CONFIG) as run:
        run.manager.tell(
            DeliveryReceipt(
                notification_id="alert-1/team/firing",
                receiver="team",
                outcome=DeliveryOutcome.FAILED,
                attempts=2,
                latency_s=1.5,
                error="HTTP 503",
            )
        )
        await run.settle()
        [event] = await run.store.query_events(EventQuery(kinds=("notification_outcome",)))
        assert event.alert_id == "alert-1"
        assert (event.payload["outcome"], event.payload["error"]) == ("failed", "HTTP 503")


RECEIPTS = (
    DeliveryReceipt(
        notification_id="alert-1/team/firing",
        receiver="team",
        outcome=DeliveryOutcome.FAILED,
        attempts=1,
        latency_s=0.5,
        error="HTTP 503",
    ),
    DeliveryReceipt(
        notification_id="alert-2/team/firing",
        receiver="team",
        outcome=DeliveryOutcome.DELIVERED,
        attempts=1,
        latency_s=0.25,
    ),
    DeliveryReceipt(
        notification_id="alert-1/team/firing",
        receiver="team",
        outcome=DeliveryOutcome.DEAD_LETTERED,
        attempts=2,
        latency_s=3.0,
        error="permanent failure: HTTP 410",
    ),
    DeliveryReceipt(
        notification_id="replayed-by-hand",
        receiver="team",
        outcome=DeliveryOutcome.DELIVERED,
        attempts=1,
        latency_s=0.0,
    ),
)


Outcome = tuple[float, str | None, dict[str, Any]]


async def recorded_outcomes(
    *messages: DeliveryReceipt | DeliveryReceipts,
) -> tuple[list[Outcome], int]:
    """Tell ``messages`` to a manager; return its outcome events and the store's appends."""
    store = GatedStore(MemoryStore())
    await store.open()
    async with running(store, config=CONFIG) as run:
        await run.settle()
        before = store.appended
        for message in messages:
            run.manager.tell(message)
        await run.settle()
        events = await store.query_events(EventQuery(kinds=("notification_outcome",)))
        appends = store.appended - before
    await store.close()
    return [(e.at, e.alert_id, dict(e.payload)) for e in events], appends


async def test_a_batch_of_receipts_is_recorded_as_one_event_per_receipt_in_order() -> None:
    events, appends = await recorded_outcomes(DeliveryReceipts(receipts=RECEIPTS))
    assert appends == 1  # the batch's events are added together
    assert [(alert_id, p["notification_id"], p["outcome"]) for _, alert_id, p in events] == [
        ("alert-1", "alert-1/team/firing", "failed"),
        ("alert-2", "alert-2/team/firing", "delivered"),
        ("alert-1", "alert-1/team/firing", "dead_lettered"),
        (None, "replayed-by-hand", "delivered"),
    ]
    # What history records is what the same receipts told one by one record.
    one_by_one, _ = await recorded_outcomes(*RECEIPTS)
    assert events == one_by_one


BY_SEVERITY = AlertManagerConfig.model_validate(
    {
        "route": {
            **{k: v for k, v in ROUTE.items() if k != "escalation"},
            "routes": [{"matchers": ['severity="critical"'], "receiver": "pager"}],
        }
    }
)


async def test_a_severity_change_moves_an_open_alert_to_its_new_group() -> None:
    async with running(config=BY_SEVERITY) as run:
        run.manager.tell(firing(severity=Severity.CRITICAL))
        await advance(run, 0)
        assert sent(run) == [("pager", NotificationKind.FIRING, "alert-1/pager/firing")]
        run.manager.tell(firing(severity=Severity.WARNING))
        await advance(run, 10)
        # As Alertmanager, where severity is a label: the old group hears the alert end.
        assert sorted(sent(run)[1:]) == [
            ("pager", NotificationKind.RESOLVED, "alert-1/pager/resolved"),
            ("team", NotificationKind.FIRING, "alert-1/team/firing"),
        ]
        await advance(run, 3600)  # repeats: only the group that holds the alert now
        repeats = [(r, key) for r, _, key in sent(run)[3:]]
        assert [r for r, _ in repeats] == ["team"]
        run.manager.tell(resolved())
        await advance(run, 10)
        assert sent(run)[-1] == ("team", NotificationKind.RESOLVED, "alert-1/team/resolved")
        await advance(run, 7200)
        assert sent(run)[-1] == ("team", NotificationKind.RESOLVED, "alert-1/team/resolved")


async def test_a_severity_change_back_and_forth_between_flushes_notifies_nobody_twice() -> None:
    async with running(config=BY_SEVERITY) as run:
        run.manager.tell(firing(severity=Severity.CRITICAL))
        await advance(run, 0)
        run.manager.tell(firing(severity=Severity.WARNING))
        run.manager.tell(firing(severity=Severity.CRITICAL))
        await advance(run, 10)
        # Back in its group before the next flush: nothing changed for anyone.
        assert sent(run) == [("pager", NotificationKind.FIRING, "alert-1/pager/firing")]


ESCALATE_CRITICAL = AlertManagerConfig.model_validate(
    {
        "route": {
            **{k: v for k, v in ROUTE.items() if k != "escalation"},
            "routes": [{"matchers": ['severity="critical"'], "escalation": "page"}],
        },
        "escalation_policies": [POLICY],
    }
)


async def test_an_alert_raised_to_a_route_that_escalates_starts_escalating() -> None:
    async with running(config=ESCALATE_CRITICAL) as run:
        run.manager.tell(firing(severity=Severity.WARNING))
        await advance(run, 30)
        assert (await run.status()).escalations == 0
        run.manager.tell(firing(severity=Severity.CRITICAL))
        await advance(run, 0)
        assert (await run.status()).escalations == 1
        await advance(run, 60)
        escalated = [r for r, kind, _ in sent(run) if kind is NotificationKind.ESCALATED]
        assert escalated == ["oncall"]


async def test_an_alert_lowered_out_of_a_route_that_escalates_stops_escalating() -> None:
    async with running(config=ESCALATE_CRITICAL) as run:
        run.manager.tell(firing(severity=Severity.CRITICAL))
        await advance(run, 60)
        run.manager.tell(firing(severity=Severity.WARNING))
        await advance(run, 0)
        assert (await run.status()).escalations == 0
        await advance(run, 600)
        escalated = [r for r, kind, _ in sent(run) if kind is NotificationKind.ESCALATED]
        assert escalated == ["oncall"]


async def test_updates_that_keep_the_severity_do_not_restart_a_finished_escalation() -> None:
    async with running(config=ESCALATE_CRITICAL) as run:
        run.manager.tell(firing(severity=Severity.CRITICAL))
        await advance(run, 60)
        await advance(run, 120)  # both levels paged: the policy ran its course
        assert (await run.status()).escalations == 0
        run.manager.tell(firing(severity=Severity.CRITICAL, value=2.0))
        await advance(run, 600)
        assert (await run.status()).escalations == 0
        escalated = [r for r, kind, _ in sent(run) if kind is NotificationKind.ESCALATED]
        assert escalated == ["oncall", "lead"]


async def test_an_acknowledged_alert_restored_by_a_restart_notifies_its_resolution() -> None:
    store = MemoryStore()
    await store.open()
    async with running(store, config=CONFIG) as run:
        run.manager.tell(firing())
        await advance(run, 0)
        await run.manager.ask(Acknowledge(alert_id="alert-1", by="ann"))
        await advance(run, 10)
        assert [kind for _, kind, _ in sent(run)] == [
            NotificationKind.FIRING,
            NotificationKind.ACKNOWLEDGED,
        ]
        await advance(run, 300)  # long before the restart: not notified again
        clock = run.clock
    async with running(store, config=CONFIG, clock=clock) as run:  # a new process
        await advance(run, 10)
        assert sent(run) == []  # what the receiver was told is not told again
        run.manager.tell(resolved())
        await advance(run, 10)
        assert sent(run) == [("team", NotificationKind.RESOLVED, "alert-1/team/resolved")]


async def test_an_acknowledgement_just_before_a_restart_is_notified_after_it() -> None:
    store = MemoryStore()
    await store.open()
    async with running(store, config=CONFIG) as run:
        run.manager.tell(firing())
        await advance(run, 0)
        await run.manager.ask(Acknowledge(alert_id="alert-1", by="ann"))
        await run.settle()  # durable, but the group's next flush is 10 s away: a crash now
        assert [kind for _, kind, _ in sent(run)] == [NotificationKind.FIRING]
        clock = run.clock
    async with running(store, config=CONFIG, clock=clock) as run:
        await advance(run, 10)
        assert sent(run) == [("team", NotificationKind.ACKNOWLEDGED, "alert-1/team/acknowledged")]
        run.manager.tell(resolved())
        await advance(run, 10)
        assert sent(run)[1:] == [("team", NotificationKind.RESOLVED, "alert-1/team/resolved")]
