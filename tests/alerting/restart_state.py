"""The state a restart must bring back, shared by the restart tests and the kill -9 target.

``build_state`` opens alerts, acknowledges one, silences one and takes one escalation to
level 0; ``picture`` is everything the manager then holds, as JSON (so that a process
can print it); ``check_continues`` checks that a restored manager holds the same and
carries on exactly: the next seq, and the escalation's next level on time.
"""

from __future__ import annotations

from typing import Any

from actors.store import EventQuery
from messages import (
    Acknowledge,
    GetAlert,
    ListSilences,
    Notification,
    NotificationKind,
    QueryAlerts,
    SilenceList,
)
from tests.alerting.builders import T0, firing, silence
from tests.alerting.harness import Running
from tests.alerting.test_notifications import CONFIG, advance

__all__ = ["BUILT_AT", "CONFIG", "build_state", "check_continues", "escalations", "picture"]

BUILT_AT = T0 + 70
"""The clock's time when ``build_state`` returns: where a restarted process starts."""


async def picture(run: Running) -> dict[str, Any]:
    """Return everything the manager holds that must come back, as JSON data.

    Alerts (their details), silences (expired ones too), the last seq, the running
    escalations and the open alerts; each query is answered once what it shows is
    durable.
    """
    alerts = await run.manager.ask(QueryAlerts(limit=1000))
    details = [await run.manager.ask(GetAlert(alert_id=a.alert_id)) for a in alerts.alerts]
    silences = await run.manager.ask(ListSilences(include_expired=True))
    assert isinstance(silences, SilenceList)
    status = await run.status()
    return {
        "alerts": [detail.model_dump(mode="json") for detail in details],
        "silences": [s.model_dump(mode="json") for s in silences.silences],
        "last_seq": status.last_seq,
        "escalations": status.escalations,
        "open": status.open_alerts,
    }


async def build_state(run: Running) -> None:
    """Open alerts, acknowledge one, silence one, and get one escalation to level 0."""
    run.manager.tell(firing(host="a"))
    run.manager.tell(firing(host="b"))
    run.manager.tell(firing("mem", host="c"))
    await run.manager.ask(Acknowledge(alert_id="alert-1", by="ann", comment="on it"))
    await run.manager.ask(silence('{alertname="mem"}', ends_at=T0 + 600))
    await advance(run, 60)  # alert-2 escalates to level 0 at T0+60: level 1 is due at T0+180
    await advance(run, BUILT_AT - T0 - 60)


def escalations(run: Running) -> list[str]:
    """Return the receivers of the escalation notifications sent so far, in order."""
    return [
        n.receiver
        for n in run.notifications.items
        if isinstance(n, Notification) and n.kind is NotificationKind.ESCALATED
    ]


async def check_continues(run: Running, before: dict[str, Any]) -> None:
    """Check that the restored manager holds ``before`` and carries on exactly.

    ``run``'s clock must say ``BUILT_AT``.
    """
    after = await picture(run)
    assert after == before
    alerts = {d["alert"]["alert_id"]: d for d in after["alerts"]}
    assert {alert_id: d["alert"]["state"] for alert_id, d in alerts.items()} == {
        "alert-1": "acknowledged",
        "alert-2": "active",
        "alert-3": "suppressed",
    }
    ann = alerts["alert-1"]
    assert (ann["alert"]["acknowledged_by"], ann["acknowledge_comment"]) == ("ann", "on it")
    assert (alerts["alert-2"]["escalation_level"], alerts["alert-3"]["silenced_by"]) == (
        0,
        [after["silences"][0]["silence_id"]],
    )
    assert [(s["status"], s["created_by"]) for s in after["silences"]] == [("active", "ops")]
    run.manager.tell(firing(host="d"))
    status = await run.status()
    assert status.last_seq == before["last_seq"] + 1
    [event] = await run.store.query_events(EventQuery(since_seq=before["last_seq"]))
    assert (event.seq, event.alert_id) == (before["last_seq"] + 1, "alert-4")
    # The escalation position came back: level 1 is due at T0+180, not before.
    await advance(run, T0 + 180 - BUILT_AT - 1)
    assert escalations(run).count("lead") == 0
    await advance(run, 1)
    assert escalations(run).count("lead") == 1
