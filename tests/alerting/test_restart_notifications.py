"""A restart of the alert manager never leaves a receiver believing a resolved alert fires.

Found by fault scenario 2 (tests/faults/test_crashes.py): a resolution committed just
before a crash, whose group had not flushed yet, was lost with the old instance's
groups; and a re-fed open alert that resolved before its first flush after the restart
was dropped as "never reported". The planner is a plain class: tested directly.
"""

from __future__ import annotations

from actors.alerting._book import AlertBook
from actors.alerting._dispatch import RESTART_SLACK, NotificationPlanner
from actors.alerting._routing import RouteConfig
from tests.alerting.builders import T0, firing, resolved

ROUTE = RouteConfig.model_validate(
    {"receiver": "ops", "group_by": ["..."], "group_wait": 0, "group_interval": 5}
)


def commit_all(planner: NotificationPlanner, book: AlertBook, now: float) -> None:
    for alert in book.open_alerts():
        planner.committed(alert.alert_id, alert.fingerprint, alert.match_labels, alert.state, now)


def sent(planner: NotificationPlanner, book: AlertBook, now: float) -> list[tuple[str, str]]:
    notifications = planner.due_flushes(now, lambda alert_id: book.get(alert_id))
    return [(n.id, n.kind.value) for n in notifications]


def test_a_resolution_committed_before_a_crash_and_never_flushed_is_sent_after_it() -> None:
    book, before = AlertBook(), NotificationPlanner(ROUTE)
    book.fire(firing(host="a"), T0)
    commit_all(before, book, T0)
    assert sent(before, book, T0) == [("alert-1/ops/firing", "firing")]
    [alert] = book.open_alerts()
    book.resolve_automatically(resolved(host="a", resolved_at=T0 + 1), T0 + 1)
    before.committed(alert.alert_id, alert.fingerprint, alert.match_labels, alert.state, T0 + 1)
    # The crash comes before the group's next flush (T0 + 5): the old planner is gone.

    after = NotificationPlanner(ROUTE)
    now = T0 + 2
    recent = book.resolved_since(now - after.resolution_window())
    assert [a.alert_id for a in recent] == ["alert-1"]
    after.refeed_resolved(recent, now)
    after.refeed(book.open_alerts(), now)
    assert sent(after, book, now) == [("alert-1/ops/resolved", "resolved")]
    assert after.resolution_window() == 5 + RESTART_SLACK


def test_a_re_fed_alert_that_resolves_before_its_first_flush_still_sends_the_resolution() -> None:
    book = AlertBook()
    book.fire(firing(host="a"), T0)
    [alert] = book.open_alerts()
    after = NotificationPlanner(ROUTE)
    after.refeed(book.open_alerts(), T0 + 1)
    book.resolve_automatically(resolved(host="a", resolved_at=T0 + 1), T0 + 1)
    after.committed(alert.alert_id, alert.fingerprint, alert.match_labels, alert.state, T0 + 1)
    assert sent(after, book, T0 + 1) == [("alert-1/ops/resolved", "resolved")]


def test_a_new_alert_that_resolves_before_its_first_flush_is_still_never_notified() -> None:
    book, planner = AlertBook(), NotificationPlanner(ROUTE)
    book.fire(firing(host="a"), T0)
    [alert] = book.open_alerts()
    planner.committed(alert.alert_id, alert.fingerprint, alert.match_labels, alert.state, T0)
    book.resolve_automatically(resolved(host="a", resolved_at=T0), T0)
    planner.committed(alert.alert_id, alert.fingerprint, alert.match_labels, alert.state, T0)
    assert sent(planner, book, T0) == []


def test_resolutions_older_than_the_window_are_not_sent_again() -> None:
    book = AlertBook()
    book.fire(firing(host="a"), T0)
    book.resolve_automatically(resolved(host="a", resolved_at=T0), T0)
    book.fire(firing(host="b"), T0 + 100)
    book.resolve_automatically(resolved(host="b", resolved_at=T0 + 100), T0 + 100)
    assert [a.alert_id for a in book.resolved_since(T0 + 50)] == ["alert-2"]
    assert [a.alert_id for a in book.resolved_since(T0)] == ["alert-1", "alert-2"]
