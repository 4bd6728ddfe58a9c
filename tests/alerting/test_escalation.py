"""Escalation policies as plain code: levels, loops, acknowledgement, restarts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from actors.alerting._escalation import (
    EscalationAlreadyStarted,
    EscalationLevel,
    EscalationPolicy,
    EscalationStateInvalid,
    EscalationStep,
    EscalationTracker,
)


def policy(*afters: float, repeat: int = 0, **extra: Any) -> EscalationPolicy:
    levels = [{"after": after, "receivers": [f"level{i}"]} for i, after in enumerate(afters)]
    return EscalationPolicy.model_validate(
        {"name": "on-call", "levels": levels, "repeat": repeat, **extra}
    )


THREE = policy(0, 300, 600)


def positions(steps: list[EscalationStep]) -> list[tuple[str, int, int]]:
    return [(step.alert_id, step.loop, step.level) for step in steps]


def run(tracker: EscalationTracker, until: float) -> list[tuple[float, int, int]]:
    """Call ``due`` at every deadline up to ``until``; return (time, loop, level) per step."""
    seen: list[tuple[float, int, int]] = []
    while (deadline := tracker.next_deadline()) is not None and deadline <= until:
        seen.extend((deadline, step.loop, step.level) for step in tracker.due(deadline))
    return seen


# -- policies ----------------------------------------------------------------------------------


def test_a_policy_needs_at_least_one_level_with_at_least_one_receiver() -> None:
    with pytest.raises(ValidationError, match="levels"):
        EscalationPolicy(name="p", levels=())
    with pytest.raises(ValidationError, match="receivers"):
        EscalationLevel(after=0, receivers=())


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "", "levels": [{"receivers": ["a"]}]}, "name"),
        ({"name": "p", "levels": [{"after": -1, "receivers": ["a"]}]}, "after"),
        ({"name": "p", "levels": [{"receivers": [""]}]}, "receivers"),
        ({"name": "p", "levels": [{"receivers": ["a"]}], "repeat": -1}, "repeat"),
        ({"name": "p", "levels": [{"receivers": ["a"]}], "repeat_after": 0}, "repeat_after"),
        ({"name": "p", "levels": [{"receivers": ["a"]}], "unknown": 1}, "unknown"),
    ],
)
def test_an_invalid_policy_field_is_rejected_and_named(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        EscalationPolicy.model_validate(data)


def test_a_policy_that_would_loop_without_delay_is_rejected() -> None:
    with pytest.raises(ValidationError, match="repeat_after is required"):
        policy(0, 300, repeat=1)

    assert policy(0, 300, repeat=1, repeat_after=60).repeat_after == 60
    assert policy(10, 300, repeat=1).repeat == 1


def test_a_policy_counts_its_steps_and_the_delay_before_each() -> None:
    looping = policy(0, 300, repeat=2, repeat_after=900)

    assert looping.steps == 6
    assert [looping.delay(step) for step in range(6)] == [0, 300, 900, 300, 900, 300]
    assert [policy(60, 300, repeat=1).delay(step) for step in range(4)] == [60, 300, 60, 300]


def test_a_policy_is_frozen() -> None:
    with pytest.raises(ValidationError):
        THREE.repeat = 3


# -- levels ------------------------------------------------------------------------------------


def test_each_level_is_due_its_after_seconds_after_the_previous_level() -> None:
    tracker = EscalationTracker()
    tracker.start("a1", THREE, 1000.0)

    assert run(tracker, 10_000.0) == [(1000.0, 0, 0), (1300.0, 0, 1), (1900.0, 0, 2)]


def test_a_level_is_not_due_a_moment_before_its_time() -> None:
    tracker = EscalationTracker()
    tracker.start("a1", policy(60, 300), 0.0)

    assert tracker.next_deadline() == 60.0
    assert tracker.due(59.999) == []
    assert positions(tracker.due(60.0)) == [("a1", 0, 0)]
    assert tracker.next_deadline() == 360.0
    assert tracker.due(359.999) == []


def test_a_step_names_the_alert_policy_level_loop_receivers_and_time() -> None:
    tracker = EscalationTracker()
    tracker.start("a1", THREE, 0.0)

    (step,) = tracker.due(0.0)

    assert step == EscalationStep(
        alert_id="a1",
        policy="on-call",
        level=0,
        loop=0,
        receivers=("level0",),
        at=0.0,
        last=False,
    )


def test_the_last_step_says_so_and_the_tracker_forgets_the_alert() -> None:
    tracker = EscalationTracker()
    tracker.start("a1", policy(0, 300), 0.0)
    tracker.due(0.0)

    (step,) = tracker.due(300.0)

    assert step.last is True
    assert "a1" not in tracker
    assert len(tracker) == 0
    assert tracker.next_deadline() is None
    assert tracker.document("a1") is None


def test_levels_with_zero_after_are_due_together_with_the_level_before() -> None:
    tracker = EscalationTracker()
    tracker.start("a1", policy(0, 0, 300), 0.0)

    assert positions(tracker.due(0.0)) == [("a1", 0, 0), ("a1", 0, 1)]


def test_a_late_call_notifies_one_level_and_the_next_counts_from_then() -> None:
    tracker = EscalationTracker()
    tracker.start("a1", THREE, 0.0)
    tracker.due(0.0)

    (step,) = tracker.due(5000.0)

    assert (step.level, step.at) == (1, 300.0)
    assert tracker.next_deadline() == 5600.0


def test_escalations_of_several_alerts_come_in_deadline_order() -> None:
    tracker = EscalationTracker()
    tracker.start("late", policy(100), 50.0)
    tracker.start("early", policy(100), 0.0)

    assert [step.alert_id for step in tracker.due(1000.0)] == ["early", "late"]


# -- repeat ------------------------------------------------------------------------------------


def test_repeat_loops_through_all_levels_again_after_repeat_after() -> None:
    tracker = EscalationTracker()
    tracker.start("a1", policy(0, 300, repeat=2, repeat_after=900), 0.0)

    assert run(tracker, 1e9) == [
        (0.0, 0, 0),
        (300.0, 0, 1),
        (1200.0, 1, 0),
        (1500.0, 1, 1),
        (2400.0, 2, 0),
        (2700.0, 2, 1),
    ]
    assert len(tracker) == 0


def test_without_repeat_after_a_new_loop_waits_the_first_levels_after() -> None:
    tracker = EscalationTracker()
    tracker.start("a1", policy(60, 300, repeat=1), 0.0)

    assert run(tracker, 1e9) == [(60.0, 0, 0), (360.0, 0, 1), (420.0, 1, 0), (720.0, 1, 1)]


def test_no_repeat_means_one_loop() -> None:
    tracker = EscalationTracker()
    tracker.start("a1", THREE, 0.0)

    assert [loop for _at, loop, _level in run(tracker, 1e9)] == [0, 0, 0]


# -- acknowledge and resolve -------------------------------------------------------------------


@pytest.mark.parametrize("stop", ["acknowledge", "resolve"])
def test_acknowledging_or_resolving_stops_the_escalation(stop: str) -> None:
    tracker = EscalationTracker()
    tracker.start("a1", THREE, 0.0)
    tracker.start("a2", THREE, 0.0)
    tracker.due(0.0)

    assert getattr(tracker, stop)("a1") is True

    assert "a1" not in tracker
    assert positions(tracker.due(1e9)) == [("a2", 0, 1)]
    assert getattr(tracker, stop)("a1") is False


def test_stopping_an_alert_without_escalation_says_so() -> None:
    tracker = EscalationTracker()

    assert tracker.acknowledge("nope") is False
    assert tracker.resolve("nope") is False


def test_starting_a_running_escalation_again_is_an_error() -> None:
    tracker = EscalationTracker()
    tracker.start("a1", THREE, 0.0)

    with pytest.raises(EscalationAlreadyStarted, match="a1"):
        tracker.start("a1", THREE, 10.0)


def test_an_alert_can_escalate_again_once_its_escalation_stopped() -> None:
    tracker = EscalationTracker()
    tracker.start("a1", THREE, 0.0)
    tracker.acknowledge("a1")

    tracker.start("a1", THREE, 100.0)

    assert positions(tracker.due(100.0)) == [("a1", 0, 0)]


def test_many_stopped_escalations_leave_the_next_deadline_right() -> None:
    tracker = EscalationTracker()
    for index in range(500):
        tracker.start(f"a{index}", policy(float(index) + 1), 0.0)
    for index in range(499):
        tracker.acknowledge(f"a{index}")

    assert tracker.next_deadline() == 500.0
    assert positions(tracker.due(1e9)) == [("a499", 0, 0)]


# -- export and restore ------------------------------------------------------------------------


def test_export_gives_a_json_document_per_running_escalation() -> None:
    tracker = EscalationTracker()
    tracker.start("a1", THREE, 0.0)
    tracker.start("a2", THREE, 50.0)
    tracker.due(0.0)

    docs = tracker.export()

    assert set(docs) == {"a1", "a2"}
    assert json.loads(json.dumps(docs)) == docs
    assert docs["a1"] == tracker.document("a1")
    assert docs["a1"]["step"] == 1


def test_a_restored_tracker_continues_exactly_where_the_old_one_was() -> None:
    tracker = EscalationTracker()
    tracker.start("a1", policy(0, 300, 600, repeat=1, repeat_after=1000), 0.0)
    tracker.start("a2", THREE, 100.0)
    run(tracker, 400.0)

    restored = EscalationTracker()
    restored.restore(json.loads(json.dumps(tracker.export())), 400.0)

    assert restored.export() == tracker.export()
    assert restored.next_deadline() == tracker.next_deadline()
    assert run(restored, 1e9) == run(tracker, 1e9)


def test_a_level_due_while_down_fires_once_at_restore_and_the_next_counts_from_then() -> None:
    tracker = EscalationTracker()
    tracker.start("a1", THREE, 0.0)
    tracker.due(0.0)
    docs = tracker.export()

    restored = EscalationTracker()
    restored.restore(docs, 10_000.0)

    assert restored.next_deadline() == 300.0
    (step,) = restored.due(10_000.0)
    assert (step.level, step.at) == (1, 300.0)
    assert restored.next_deadline() == 10_600.0


def test_a_document_from_the_future_counts_from_the_restore_time() -> None:
    tracker = EscalationTracker()
    tracker.start("a1", policy(60), 5000.0)

    restored = EscalationTracker()
    restored.restore(tracker.export(), 1000.0)

    assert restored.next_deadline() == 1060.0


def test_a_restored_escalation_keeps_the_policy_it_started_with() -> None:
    tracker = EscalationTracker()
    tracker.start("a1", policy(10, repeat=0), 0.0)

    restored = EscalationTracker()
    restored.restore(tracker.export(), 0.0)

    assert restored.due(10.0)[0].receivers == ("level0",)


def test_restore_replaces_a_running_escalation_of_the_same_alert() -> None:
    tracker = EscalationTracker()
    tracker.start("a1", THREE, 0.0)
    tracker.due(0.0)
    docs = tracker.export()
    fresh = EscalationTracker()
    fresh.start("a1", THREE, 0.0)

    fresh.restore(docs, 0.0)

    assert positions(fresh.due(1e9)) == [("a1", 0, 1)]
    assert len(fresh) == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"step": 3}, "past the policy"),
        ({"step": -1}, "step"),
        ({"v": 99}, "v"),
        ({"policy": {"name": "p"}}, "levels"),
        ({"anchor": "soon"}, "anchor"),
        ({"extra": 1}, "extra"),
    ],
)
def test_an_unreadable_document_is_refused_and_nothing_is_restored(
    change: dict[str, Any], reason: str
) -> None:
    tracker = EscalationTracker()
    tracker.start("good", THREE, 0.0)
    tracker.start("bad", THREE, 0.0)
    docs = tracker.export()
    docs["bad"] = {**docs["bad"], **change}

    restored = EscalationTracker()
    with pytest.raises(EscalationStateInvalid, match=reason) as raised:
        restored.restore(docs, 0.0)

    assert "'bad'" in str(raised.value)
    assert len(restored) == 0


# -- properties --------------------------------------------------------------------------------

_policies = st.builds(
    lambda afters, repeat, repeat_after: policy(*afters, repeat=repeat, repeat_after=repeat_after),
    st.lists(st.sampled_from([0.0, 30.0, 300.0]), min_size=1, max_size=4),
    st.integers(min_value=0, max_value=3),
    st.sampled_from([60.0, 900.0]),
)
_events = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=2000, allow_nan=False),
        st.sampled_from(["a1", "a2", "a3"]),
        st.sampled_from(["start", "acknowledge", "tick", "tick", "restart"]),
    ),
    max_size=30,
)


@settings(max_examples=100, deadline=None)
@given(policy=_policies, events=_events)
def test_escalation_never_notifies_a_level_twice_in_a_loop_nor_early(
    policy: EscalationPolicy, events: list[tuple[float, str, str]]
) -> None:
    tracker = EscalationTracker()
    now = 0.0
    notified: dict[str, list[tuple[int, int]]] = {}
    previous: dict[str, float] = {}  # when the alert started or was last notified
    running: set[str] = set()
    acknowledged: set[str] = set()

    def tick() -> None:
        for step in tracker.due(now):
            assert step.alert_id in running
            history = notified[step.alert_id]
            expected = divmod(len(history), len(policy.levels))
            # Steps come in order, each exactly once: never twice in a loop, none skipped.
            assert (step.loop, step.level) == expected
            assert step.at >= previous[step.alert_id] + policy.delay(len(history)) - 1e-6
            assert step.at <= now
            assert step.last == (len(history) + 1 == policy.steps)
            history.append((step.loop, step.level))
            previous[step.alert_id] = now
            if step.last:
                running.discard(step.alert_id)

    for delay, alert_id, action in events:
        now += delay
        if action == "start":
            if alert_id in running:
                with pytest.raises(EscalationAlreadyStarted):
                    tracker.start(alert_id, policy, now)
                continue
            tracker.start(alert_id, policy, now)
            running.add(alert_id)
            acknowledged.discard(alert_id)
            notified[alert_id] = []
            previous[alert_id] = now
        elif action == "acknowledge":
            assert tracker.acknowledge(alert_id) == (alert_id in running)
            if alert_id in running:
                acknowledged.add(alert_id)
            running.discard(alert_id)
        elif action == "restart":
            docs = json.loads(json.dumps(tracker.export()))
            tracker = EscalationTracker()
            tracker.restore(docs, now)
        else:
            tick()
        assert set(tracker.export()) == running
    while (deadline := tracker.next_deadline()) is not None:
        now = max(now, deadline)
        tick()
    assert not running
    for alert_id, history in notified.items():
        assert len(history) == policy.steps or alert_id in acknowledged
