"""Notification grouping as plain code: Alertmanager's timing, with incremental flushes."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.alerting import NotificationPlanner
from actors.alerting._grouping import FIRING, RESOLVED, Flush, GroupedAlert, GroupScheduler
from actors.alerting._routing import Route, RouteConfig, RouteTree

ACKNOWLEDGED = "acknowledged"
SUPPRESSED = "suppressed"


def make_route(**config: Any) -> Route:
    settings: dict[str, Any] = {
        "receiver": "team",
        "group_by": ["alertname"],
        "group_wait": 30,
        "group_interval": 300,
        "repeat_interval": 3600,
    }
    return RouteTree(RouteConfig.model_validate({**settings, **config})).root


ROUTE = make_route()


def change(
    scheduler: GroupScheduler,
    key: str,
    state: str,
    now: float,
    *,
    route: Route = ROUTE,
    alertname: str = "A",
    **kwargs: Any,
) -> None:
    labels = {"alertname": alertname, "instance": key}
    scheduler.alert_changed(route, key, labels, state, now, **kwargs)


def states(alerts: Iterable[GroupedAlert]) -> list[tuple[str, str]]:
    return [(alert.key, alert.state) for alert in alerts]


def only(flushes: list[Flush]) -> Flush:
    assert len(flushes) == 1, flushes
    return flushes[0]


def flushed_once(scheduler: GroupScheduler, now: float) -> Flush:
    """Return the one flush due at ``now``, after checking nothing was due just before."""
    assert scheduler.next_deadline() == now
    return only(scheduler.due(now))


# -- group_wait --------------------------------------------------------------------------------


def test_a_new_group_is_first_flushed_exactly_group_wait_after_its_first_alert() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 100.0)

    assert scheduler.next_deadline() == 130.0
    assert scheduler.due(129.999) == []
    flush = only(scheduler.due(130.0))

    assert states(flush.changed) == [("h1", FIRING)]
    assert flush.at == 130.0
    assert flush.is_repeat is False
    assert flush.number == 1


def test_alerts_that_join_during_group_wait_are_in_the_first_flush() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0)
    change(scheduler, "h2", FIRING, 10.0)
    change(scheduler, "h3", FIRING, 29.0)

    flush = flushed_once(scheduler, 30.0)

    assert states(flush.changed) == [("h1", FIRING), ("h2", FIRING), ("h3", FIRING)]
    assert set(flush.firing) == {"h1", "h2", "h3"}


def test_a_zero_group_wait_flushes_at_the_time_of_the_first_alert() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 5.0, route=make_route(group_wait=0))

    assert only(scheduler.due(5.0)).at == 5.0


def test_a_flush_carries_the_receiver_route_group_key_and_group_labels() -> None:
    scheduler = GroupScheduler()
    route = make_route(group_by=["alertname", "env"], receiver="db")
    labels = {"alertname": "Disk", "env": "prod", "instance": "h1"}
    scheduler.alert_changed(route, "k", labels, FIRING, 0.0)

    flush = only(scheduler.due(30.0))

    assert flush.receiver == "db"
    assert flush.route_id == "root"
    assert flush.group_key == route.group_key(labels)
    assert flush.group_labels == {"alertname": "Disk", "env": "prod"}
    assert flush.changed == (GroupedAlert("k", labels, FIRING),)


def test_an_old_alert_flushes_a_group_that_has_not_ticked_yet_right_away() -> None:
    # As Alertmanager's aggrGroup.insert: StartsAt + group_wait already past.
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 1000.0, started_at=900.0)

    assert only(scheduler.due(1000.0)).at == 1000.0
    change(scheduler, "h2", FIRING, 1001.0)
    assert scheduler.next_deadline() == 1300.0


def test_a_recent_alert_still_waits_group_wait() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 1000.0, started_at=990.0)

    assert scheduler.next_deadline() == 1030.0


# -- group_interval ----------------------------------------------------------------------------


def test_a_change_after_the_first_flush_waits_for_the_next_group_interval_tick() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0)
    scheduler.due(30.0)

    change(scheduler, "h2", FIRING, 100.0)

    assert scheduler.due(329.0) == []
    flush = flushed_once(scheduler, 330.0)
    assert states(flush.changed) == [("h2", FIRING)]
    assert set(flush.firing) == {"h1", "h2"}


def test_ticks_stay_on_the_grid_of_the_first_flush_after_quiet_periods() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0)
    scheduler.due(30.0)

    # Quiet for a while: the next tick is still 30 + k * 300, not 300 after the change.
    change(scheduler, "h2", FIRING, 1000.0)

    assert flushed_once(scheduler, 1230.0).at == 1230.0


def test_a_change_exactly_on_a_tick_not_yet_decided_is_flushed_at_that_tick() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0)
    scheduler.due(30.0)

    change(scheduler, "h2", FIRING, 330.0)

    assert flushed_once(scheduler, 330.0).at == 330.0


def test_a_change_right_after_a_flush_at_the_same_instant_waits_a_whole_interval() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0)
    scheduler.due(30.0)

    change(scheduler, "h2", FIRING, 30.0)

    assert scheduler.next_deadline() == 330.0


def test_many_changes_within_one_interval_make_one_flush() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0)
    scheduler.due(30.0)
    for second in range(40, 300, 10):
        change(scheduler, f"x{second}", FIRING, float(second))

    flush = flushed_once(scheduler, 330.0)

    assert len(flush.changed) == 26
    assert len(flush.firing) == 27


def test_a_late_call_decides_missed_ticks_once_at_the_latest_of_them() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0)
    scheduler.due(30.0)
    change(scheduler, "h2", FIRING, 100.0)

    flush = only(scheduler.due(1000.0))

    assert flush.at == 930.0  # the last tick at or before 1000
    change(scheduler, "h3", FIRING, 1001.0)
    assert scheduler.next_deadline() == 1230.0


def test_changed_lists_alerts_in_the_order_they_first_changed_with_their_latest_state() -> None:
    scheduler = GroupScheduler()
    for key in ("h1", "h2", "h3"):
        change(scheduler, key, FIRING, 0.0)
    scheduler.due(30.0)
    change(scheduler, "h3", ACKNOWLEDGED, 40.0)
    change(scheduler, "h1", ACKNOWLEDGED, 50.0)
    change(scheduler, "h3", RESOLVED, 60.0)

    flush = flushed_once(scheduler, 330.0)

    assert states(flush.changed) == [("h3", RESOLVED), ("h1", ACKNOWLEDGED)]
    assert set(flush.firing) == {"h2"}


# -- repeat_interval ---------------------------------------------------------------------------


def test_an_unchanged_firing_group_is_repeated_on_the_first_tick_after_repeat_interval() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0)
    change(scheduler, "h2", FIRING, 0.0)
    first = only(scheduler.due(30.0))

    repeat = flushed_once(scheduler, 3630.0)

    assert repeat.is_repeat is True
    assert repeat.changed == ()
    assert set(repeat.firing) == {"h1", "h2"}
    assert dict(repeat.firing) == dict(first.firing)
    assert repeat.number == 2
    assert scheduler.next_deadline() == 7230.0


def test_a_repeat_interval_off_the_grid_is_rounded_up_to_the_next_tick() -> None:
    # Alertmanager docs: group_interval 5m, repeat_interval 9m repeats every 10m.
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0, route=make_route(group_wait=0, repeat_interval=540))
    scheduler.due(0.0)

    assert flushed_once(scheduler, 600.0).is_repeat is True
    assert flushed_once(scheduler, 1200.0).is_repeat is True


def test_a_repeat_interval_shorter_than_group_interval_repeats_every_tick() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0, route=make_route(group_wait=0, repeat_interval=60))
    scheduler.due(0.0)

    assert flushed_once(scheduler, 300.0).is_repeat is True


def test_a_change_flush_restarts_the_repeat_interval() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0)
    scheduler.due(30.0)
    change(scheduler, "h2", FIRING, 2000.0)
    assert flushed_once(scheduler, 2130.0).is_repeat is False

    assert flushed_once(scheduler, 5730.0).is_repeat is True


def test_a_group_with_nothing_firing_is_not_repeated() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0)
    scheduler.due(30.0)
    change(scheduler, "h1", ACKNOWLEDGED, 40.0)

    assert states(flushed_once(scheduler, 330.0).changed) == [("h1", ACKNOWLEDGED)]
    assert scheduler.next_deadline() is None
    assert scheduler.due(1e9) == []


# -- resolution and the group's life -----------------------------------------------------------


def test_a_resolved_alert_is_reported_once_then_leaves_the_group() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0)
    change(scheduler, "h2", FIRING, 0.0)
    scheduler.due(30.0)
    change(scheduler, "h1", RESOLVED, 100.0)

    flush = flushed_once(scheduler, 330.0)

    assert states(flush.changed) == [("h1", RESOLVED)]
    assert set(flush.firing) == {"h2"}
    assert scheduler.members("root", flush.group_key) == {"h2": FIRING}
    assert flushed_once(scheduler, 3930.0).changed == ()


def test_a_group_whose_last_alert_resolved_is_removed_after_reporting_it() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0)
    scheduler.due(30.0)
    change(scheduler, "h1", RESOLVED, 100.0)

    flush = flushed_once(scheduler, 330.0)

    assert states(flush.changed) == [("h1", RESOLVED)]
    assert len(flush.firing) == 0
    assert len(scheduler) == 0
    assert scheduler.next_deadline() is None


def test_an_alert_after_its_group_was_removed_starts_a_new_group_with_group_wait() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0)
    scheduler.due(30.0)
    change(scheduler, "h1", RESOLVED, 100.0)
    scheduler.due(330.0)

    change(scheduler, "h1", FIRING, 400.0)

    flush = flushed_once(scheduler, 430.0)
    assert flush.number == 1
    assert states(flush.changed) == [("h1", FIRING)]


def test_an_alert_that_fires_and_resolves_before_the_first_flush_is_never_notified() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0)
    change(scheduler, "h1", RESOLVED, 10.0)

    assert scheduler.due(30.0) == []
    assert len(scheduler) == 0


def test_an_alert_that_fires_and_resolves_between_flushes_is_never_notified() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0)
    scheduler.due(30.0)
    change(scheduler, "h2", FIRING, 100.0)
    change(scheduler, "h2", RESOLVED, 200.0)

    assert scheduler.due(330.0) == []
    assert scheduler.members("root", ROUTE.group_key({"alertname": "A"})) == {"h1": FIRING}


def test_resolving_an_alert_the_scheduler_never_saw_creates_no_group() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", RESOLVED, 0.0)

    assert len(scheduler) == 0
    assert scheduler.next_deadline() is None


def test_an_alert_that_flaps_back_to_its_reported_state_is_not_reported() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0)
    scheduler.due(30.0)
    change(scheduler, "h1", RESOLVED, 100.0)
    change(scheduler, "h1", FIRING, 200.0)

    assert scheduler.due(330.0) == []
    assert flushed_once(scheduler, 3630.0).is_repeat is True


def test_reporting_the_same_state_again_is_a_no_op() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0)
    scheduler.due(30.0)
    deadline = scheduler.next_deadline()

    change(scheduler, "h1", FIRING, 100.0)

    assert scheduler.next_deadline() == deadline == 3630.0


def test_a_group_of_only_suppressed_alerts_sends_nothing_until_one_fires() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", SUPPRESSED, 0.0)

    assert scheduler.due(30.0) == []
    assert len(scheduler) == 1
    change(scheduler, "h1", FIRING, 100.0)

    # The group ticked at 30 already: no second group_wait, the next tick is 330.
    assert states(flushed_once(scheduler, 330.0).changed) == [("h1", FIRING)]


def test_a_silenced_alert_that_resolves_is_reported_resolved() -> None:
    # Alertmanager #226: receivers who saw it fire hear that it resolved.
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0)
    scheduler.due(30.0)
    change(scheduler, "h1", SUPPRESSED, 40.0)
    assert states(flushed_once(scheduler, 330.0).changed) == [("h1", SUPPRESSED)]
    change(scheduler, "h1", RESOLVED, 400.0)

    assert states(flushed_once(scheduler, 630.0).changed) == [("h1", RESOLVED)]
    assert len(scheduler) == 0


def test_an_acknowledged_alert_leaves_the_firing_set_but_stays_in_the_group() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0)
    change(scheduler, "h2", FIRING, 0.0)
    scheduler.due(30.0)
    change(scheduler, "h1", ACKNOWLEDGED, 40.0)

    flush = flushed_once(scheduler, 330.0)

    assert states(flush.changed) == [("h1", ACKNOWLEDGED)]
    assert set(flush.firing) == {"h2"}
    assert scheduler.members("root", flush.group_key) == {"h1": ACKNOWLEDGED, "h2": FIRING}


# -- several groups ----------------------------------------------------------------------------


def test_alerts_with_different_group_labels_are_flushed_in_separate_groups() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h1", FIRING, 0.0, alertname="A")
    change(scheduler, "h2", FIRING, 10.0, alertname="B")

    first = only(scheduler.due(30.0))
    second = only(scheduler.due(40.0))

    assert (first.group_labels, second.group_labels) == ({"alertname": "A"}, {"alertname": "B"})
    assert sorted(scheduler.groups()) == sorted(
        [("root", first.group_key), ("root", second.group_key)]
    )


def test_flushes_due_together_come_in_deadline_order() -> None:
    scheduler = GroupScheduler()
    change(scheduler, "h2", FIRING, 10.0, alertname="B")
    change(scheduler, "h1", FIRING, 0.0, alertname="A")

    flushes = scheduler.due(100.0)

    assert [flush.at for flush in flushes] == [30.0, 40.0]
    assert [flush.group_labels["alertname"] for flush in flushes] == ["A", "B"]


def test_one_alert_on_two_routes_is_grouped_independently_on_each() -> None:
    tree = RouteTree(
        RouteConfig.model_validate(
            {
                "receiver": "default",
                "routes": [
                    {"receiver": "audit", "continue": True, "group_wait": 0},
                    {"receiver": "team", "group_wait": 60},
                ],
            }
        )
    )
    labels = {"alertname": "A"}
    scheduler = GroupScheduler()
    for route in tree.match(labels):
        scheduler.alert_changed(route, "a", labels, FIRING, 0.0)

    assert [flush.receiver for flush in scheduler.due(0.0)] == ["audit"]
    assert [flush.receiver for flush in scheduler.due(60.0)] == ["team"]


def test_a_group_key_given_by_the_caller_is_used_as_is() -> None:
    scheduler = GroupScheduler()
    labels = {"alertname": "A"}
    scheduler.alert_changed(ROUTE, "a", labels, FIRING, 0.0, group_key="precomputed")

    assert only(scheduler.due(30.0)).group_key == "precomputed"


# -- snapshots and incremental cost ------------------------------------------------------------


def test_a_flushs_firing_set_does_not_change_after_later_flushes() -> None:
    scheduler = GroupScheduler()
    route = make_route(group_wait=0, group_interval=1, repeat_interval=1e9)
    current = {str(key): FIRING for key in range(50)}
    for key in current:
        change(scheduler, key, FIRING, 0.0, route=route)
    history = [(only(scheduler.due(0.0)).firing, dict(current))]
    # Enough changes to compact the shared change log several times.
    for step in range(1, 300):
        key = str(step * 7 % 50)
        current[key] = ACKNOWLEDGED if current[key] == FIRING else FIRING
        change(scheduler, key, current[key], float(step), route=route)
        history.append((only(scheduler.due(float(step))).firing, dict(current)))

    for snapshot, then in history:
        expected = {key for key, state in then.items() if state == FIRING}
        assert len(snapshot) == len(expected)
        assert set(snapshot) == expected
        assert all(alert.state == FIRING for alert in snapshot.values())


class CountingKey(str):
    """An alert key that counts how often it is hashed: a proxy for work per alert."""

    hashes = 0

    def __hash__(self) -> int:
        CountingKey.hashes += 1
        return super().__hash__()


def test_a_flush_costs_what_changed_not_the_size_of_the_group() -> None:
    def hashes_per_change_and_flush(size: int) -> int:
        scheduler = GroupScheduler()
        route = make_route(group_wait=0, group_interval=1, repeat_interval=1e9)
        keys = [CountingKey(i) for i in range(size)]
        for key in keys:
            change(scheduler, key, FIRING, 0.0, route=route)
        scheduler.due(0.0)
        CountingKey.hashes = 0
        for step in range(1, 101):
            change(scheduler, keys[step], ACKNOWLEDGED, float(step), route=route)
            only(scheduler.due(float(step)))
        return CountingKey.hashes

    small, large = hashes_per_change_and_flush(200), hashes_per_change_and_flush(5000)
    assert small == large
    assert small <= 100 * 8


# -- benchmark ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlushCost:
    """What ``measure_flush_cost`` measured: seconds for ``changes`` change+flush cycles."""

    group_size: int
    changes: int
    seconds: float

    @property
    def microseconds_per_change(self) -> float:
        """Return the mean cost of one alert_changed plus its share of a flush."""
        return self.seconds / self.changes * 1e6

    @property
    def changes_per_second(self) -> float:
        """Return how many changes per second that is."""
        return self.changes / self.seconds if self.seconds > 0 else math.inf


def measure_flush_cost(group_size: int, changes: int, *, per_flush: int = 1) -> FlushCost:
    """Measure change+flush cost in one group of ``group_size`` firing alerts.

    The group is filled and flushed first (not measured); then each cycle changes
    ``per_flush`` alerts (firing <-> acknowledged, so the group keeps its size), advances
    time one group_interval and flushes.  Flat cost across group sizes is the claim.
    Run ``python -m tests.alerting.test_grouping`` for the figures at 200 to 20,000.
    """
    route = make_route(group_by=[], group_wait=0, group_interval=1, repeat_interval=1e9)
    scheduler = GroupScheduler()
    group_key = route.group_key({})
    labels = [{"alertname": "bench", "instance": f"host-{i}"} for i in range(group_size)]
    current = [FIRING] * group_size
    for index in range(group_size):
        scheduler.alert_changed(route, str(index), labels[index], FIRING, 0.0, group_key=group_key)
    scheduler.due(0.0)
    now = 0.0
    started = perf_counter()
    for cycle in range(0, changes, per_flush):
        for offset in range(per_flush):
            index = (cycle + offset) * 7919 % group_size
            current[index] = ACKNOWLEDGED if current[index] == FIRING else FIRING
            scheduler.alert_changed(
                route, str(index), labels[index], current[index], now, group_key=group_key
            )
        now += 1.0
        scheduler.due(now)
    return FlushCost(group_size, changes, perf_counter() - started)


def test_the_benchmark_measures_change_and_flush_cost_at_small_sizes() -> None:
    costs = [measure_flush_cost(size, 400) for size in (20, 2000)]

    assert [cost.changes for cost in costs] == [400, 400]
    assert all(cost.seconds > 0 and cost.changes_per_second > 0 for cost in costs)


# -- properties --------------------------------------------------------------------------------

_KEYS = [f"g{i % 2}-{i}" for i in range(6)]  # six alerts in two groups
_operations = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=700, allow_nan=False),
        st.sampled_from(_KEYS),
        st.sampled_from([FIRING, FIRING, RESOLVED, ACKNOWLEDGED, SUPPRESSED]),
    ),
    max_size=40,
)


def _group_of(key: str) -> str:
    return key.split("-")[0]


@dataclass
class _Receiver:
    """What one group's receiver believes, rebuilt from the flushes alone."""

    group: str
    created: float
    seen: dict[str, str]
    last_flush: float | None = None

    def assert_in_sync_with(self, truth: Mapping[str, str]) -> None:
        for key, state in truth.items():
            if _group_of(key) == self.group and (key in self.seen or state == FIRING):
                assert self.seen.get(key, RESOLVED) == state, key


_SLACK = 1e-6  # tick times are anchor + k * interval: differences may be off by an ulp


def _check_flush(flush: Flush, receiver: _Receiver, truth: Mapping[str, str]) -> None:
    route = ROUTE
    assert flush.at >= receiver.created + route.group_wait
    if receiver.last_flush is not None:
        assert flush.at >= receiver.last_flush + route.group_interval - _SLACK
    if flush.is_repeat:
        assert flush.changed == ()
        assert receiver.last_flush is not None
        assert flush.at >= receiver.last_flush + route.repeat_interval - _SLACK
    for alert in flush.changed:
        # Only news: never a state the receiver already has, never an unseen non-firing one.
        assert alert.state != receiver.seen.get(alert.key)
        assert alert.key in receiver.seen or alert.state == FIRING
        receiver.seen[alert.key] = alert.state
        if alert.state == RESOLVED:
            del receiver.seen[alert.key]
    receiver.last_flush = flush.at
    assert set(flush.firing) == {k for k, s in receiver.seen.items() if s == FIRING}
    # Every change made before the flush is in it.
    receiver.assert_in_sync_with(truth)


def _replay(operations: Iterable[tuple[float, str, str]]) -> None:
    """Apply (delay, alert key, state) changes, calling ``due`` at every deadline.

    Checks every flush against what its receiver was told before, and the truth.
    """
    scheduler = GroupScheduler()
    truth: dict[str, str] = {}
    receivers: dict[str, _Receiver] = {}
    now = 0.0

    def run_until(target: float) -> None:
        nonlocal now
        while (deadline := scheduler.next_deadline()) is not None and deadline <= target:
            assert deadline >= now
            now = deadline
            for flush in scheduler.due(now):
                assert flush.at == now
                _check_flush(flush, receivers[flush.group_key], truth)
        now = target

    for delay, key, state in operations:
        run_until(now + delay)
        labels = {"alertname": _group_of(key), "instance": key}
        group_key = ROUTE.group_key(labels)
        existed = ("root", group_key) in scheduler.groups()
        scheduler.alert_changed(ROUTE, key, labels, state, now)
        if not existed and ("root", group_key) in scheduler.groups():
            receivers[group_key] = _Receiver(labels["alertname"], now, {})
        truth[key] = state
    run_until(now + 10 * ROUTE.repeat_interval)

    # In the end every receiver is in sync, the groups left hold unresolved alerts, and
    # only groups with firing alerts still have a deadline (their repeat).
    live = [receivers[group_key] for _route_id, group_key in scheduler.groups()]
    for route_id, group_key in scheduler.groups():
        receivers[group_key].assert_in_sync_with(truth)
        members = scheduler.members(route_id, group_key)
        assert members
        assert RESOLVED not in members.values()
    firing = any(FIRING in receiver.seen.values() for receiver in live)
    assert (scheduler.next_deadline() is not None) == firing


@settings(max_examples=150, deadline=None)
@given(operations=_operations)
def test_every_change_is_reported_once_in_the_first_flush_after_it(
    operations: list[tuple[float, str, str]],
) -> None:
    _replay(operations)


def test_superseded_deadlines_across_many_groups_do_not_disturb_flushes() -> None:
    # 60 resolutions supersede 60 repeat deadlines; the due() that removes those groups
    # then rebuilds the heap in the middle of its loop, when group 60 schedules a repeat.
    scheduler = GroupScheduler()
    for group in range(100):
        change(scheduler, f"{group}-a", FIRING, 0.0, alertname=f"g{group}")
    assert len(scheduler.due(30.0)) == 100
    for group in range(60):
        change(scheduler, f"{group}-a", RESOLVED, 40.0, alertname=f"g{group}")
    for group in range(60, 65):
        change(scheduler, f"{group}-b", FIRING, 41.0, alertname=f"g{group}")

    flushes = scheduler.due(330.0)

    assert [flush.group_labels["alertname"] for flush in flushes] == [
        f"g{group}" for group in range(65)
    ]
    assert len(scheduler) == 40
    assert scheduler.next_deadline() == 3630.0
    assert [len(flush.firing) for flush in scheduler.due(3630.0)] == [1] * 35
    assert scheduler.next_deadline() == 3930.0
    assert [len(flush.firing) for flush in scheduler.due(3930.0)] == [2] * 5
    assert scheduler.next_deadline() == 7230.0


def test_heavy_churn_across_many_groups_reports_every_change_exactly_once() -> None:
    rng = random.Random(7)
    keys = [f"g{i % 100}-{i}" for i in range(300)]
    states = [FIRING, FIRING, RESOLVED, ACKNOWLEDGED, SUPPRESSED]
    _replay(
        (rng.choice([0.0, 0.0, 5.0, 60.0, 400.0]), rng.choice(keys), rng.choice(states))
        for _ in range(1000)
    )


if __name__ == "__main__":
    for size in (200, 2_000, 20_000):
        for per_flush in (1, 100):
            best = min(
                (measure_flush_cost(size, 20_000, per_flush=per_flush) for _ in range(5)),
                key=lambda cost: cost.seconds,
            )
            print(
                f"group of {size:>6,} alerts, {per_flush:>3} change(s) per flush: "
                f"{best.microseconds_per_change:6.2f} µs per change, "
                f"{best.changes_per_second:>9,.0f} changes/s"
            )


# -- through the planner: an alert whose labels change moves between groups ----------------------


def test_the_planner_moves_an_alert_whose_severity_changed_out_of_its_old_group() -> None:
    planner = NotificationPlanner(
        RouteConfig.model_validate(
            {
                "receiver": "team",
                "group_by": ["severity"],
                "group_wait": 0,
                "group_interval": 10,
                "repeat_interval": 3600,
                "routes": [{"matchers": ['severity="critical"'], "receiver": "pager"}],
            }
        )
    )
    critical = {"alertname": "cpu", "severity": "critical"}
    warning = {"alertname": "cpu", "severity": "warning"}
    planner.committed("alert-1", "fp", critical, "active", 0.0)
    [(pager_id, pager_key)] = planner.groups.groups()
    assert planner.moved("alert-1", "warning")
    assert not planner.moved("alert-1", "critical")
    planner.committed("alert-1", "fp", warning, "active", 1.0)
    assert planner.groups.members(pager_id, pager_key) == {"alert-1": RESOLVED}
    [(team_id, team_key)] = [g for g in planner.groups.groups() if g[0] != pager_id]
    assert planner.groups.members(team_id, team_key) == {"alert-1": FIRING}
    planner.committed("alert-1", "fp", warning, "resolved", 2.0)
    assert planner.groups.members(team_id, team_key) == {"alert-1": RESOLVED}
    assert not planner.moved("alert-1", "critical")  # resolved: it belongs to no group now
