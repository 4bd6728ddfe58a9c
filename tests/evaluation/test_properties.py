"""Properties of the evaluation over random sample streams (hypothesis)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.evaluation import (
    RuleEvaluation,
    Series,
    SeriesState,
    ThresholdJudge,
    compile_judge,
    series_key,
)
from messages import AlertFiring, AlertResolved, CompositeRule, MetricSample, ThresholdRule
from tests.evaluation.samples import METRIC, kinds, sample

HOSTS = ("a", "b", "c")


@dataclass(frozen=True)
class Samples:
    """Feed samples (host, value, timestamp offset from the newest) at evaluation time."""

    points: tuple[tuple[str, float, float], ...]
    advance: float


@dataclass(frozen=True)
class Tick:
    advance: float


@dataclass(frozen=True)
class Restart:
    """Replace the evaluation by a new one restored from the open alerts."""

    advance: float


@st.composite
def rules(draw: st.DrawFn) -> ThresholdRule:
    op = draw(st.sampled_from([">", ">=", "<", "<="]))
    threshold = draw(st.integers(min_value=20, max_value=80))
    fields: dict[str, Any] = {
        "id": "prop",
        "selector": METRIC,
        "op": op,
        "threshold": threshold,
        "for": draw(st.sampled_from([0, 0, 5, 30])),
        "keep_firing_for": draw(st.sampled_from([0, 0, 10])),
    }
    if draw(st.booleans()):
        margin = draw(st.integers(min_value=0, max_value=15))
        fields["resolve_threshold"] = threshold - margin if ">" in op else threshold + margin
    if draw(st.booleans()):
        function = draw(st.sampled_from(["avg", "min", "max", "sum", "count", "rate"]))
        fields["aggregation"] = {"fn": function, "window": draw(st.sampled_from([5, 30, 120]))}
    if draw(st.booleans()):
        fields["no_data_timeout"] = draw(st.sampled_from([10, 60]))
    return ThresholdRule.model_validate(fields)


steps = st.one_of(
    st.builds(
        Samples,
        points=st.lists(
            st.tuples(
                st.sampled_from(HOSTS),
                st.integers(min_value=0, max_value=100).map(float),
                st.sampled_from([-5.0, 0.0, 1.0, 1.0, 3.0, 10.0]),
            ),
            min_size=1,
            max_size=6,
        ).map(tuple),
        advance=st.sampled_from([0.0, 1.0, 4.0, 15.0]),
    ),
    st.builds(Tick, advance=st.sampled_from([1.0, 5.0, 30.0, 90.0])),
    st.builds(Restart, advance=st.sampled_from([0.0, 2.0])),
)


class Ledger:
    """What an alert owner sees: every event in order, and the alerts still open."""

    def __init__(self) -> None:
        self.events: list[AlertFiring | AlertResolved] = []
        self.open: dict[str, AlertFiring] = {}

    def record(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, AlertFiring):
                assert event.fingerprint not in self.open, f"fired twice: {event.labels}"
                self.open[event.fingerprint] = event
            elif isinstance(event, AlertResolved):
                assert event.fingerprint in self.open, f"resolved unopened: {event.labels}"
                del self.open[event.fingerprint]
            else:
                continue
            self.events.append(event)


def timed_batch(step: Samples, newest: dict[str, float]) -> list[MetricSample]:
    """Return ``step``'s samples; ``newest`` (host -> newest timestamp) moves on with them.

    A positive offset advances the host's time; zero or a negative one repeats or goes
    back from its newest timestamp: a duplicate or out-of-order sample.
    """
    batch: list[MetricSample] = []
    for host, value, offset in step.points:
        if offset > 0:
            newest[host] += offset
            timestamp = newest[host]
        else:
            timestamp = newest[host] + offset
        batch.append(sample(value, timestamp, host=host))
    return batch


@settings(max_examples=300, deadline=None)
@given(rule=rules(), program=st.lists(steps, min_size=1, max_size=40))
def test_a_series_never_fires_twice_without_a_resolve_even_across_restarts(
    rule: ThresholdRule, program: list[Samples | Tick | Restart]
) -> None:
    ledger = Ledger()
    evaluation = RuleEvaluation(rule)
    now = 1000.0
    newest = {host: 1000.0 for host in HOSTS}
    for step in program:
        now += step.advance
        if isinstance(step, Samples):
            batch = timed_batch(step, newest)
            ledger.record(evaluation.apply(batch, now))
        elif isinstance(step, Tick):
            ledger.record(evaluation.tick(now))
        else:
            evaluation = RuleEvaluation(rule)
            evaluation.restore(ledger.open.values(), now)
    # Nothing is forgotten: the evaluation and the ledger agree on what fires.
    for alert in ledger.open.values():
        labels = {"host": alert.labels["host"]}
        if alert.no_data:
            assert evaluation.no_data_firing(labels)
        else:
            assert evaluation.state_of(labels) is SeriesState.FIRING
    assert evaluation.stats().firing == sum(not a.no_data for a in ledger.open.values())


@settings(max_examples=200, deadline=None)
@given(
    threshold=st.integers(min_value=20, max_value=80),
    margin=st.integers(min_value=1, max_value=15),
    wiggle=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=60),
    high=st.booleans(),
)
def test_hysteresis_never_flaps_on_a_value_oscillating_in_the_band(
    threshold: int, margin: int, wiggle: list[float], high: bool
) -> None:
    # The value oscillates around the threshold, never reaching the resolve threshold:
    # the alert fires once and never resolves.
    op, sign = (">", 1) if high else ("<", -1)
    rule = ThresholdRule.model_validate(
        {
            "id": "h",
            "selector": METRIC,
            "op": op,
            "threshold": threshold,
            "resolve_threshold": threshold - sign * margin,
        }
    )
    first = threshold + sign * 1.0
    # From just inside the resolve threshold up to 2 past the threshold, and back.
    band = [threshold - sign * (margin - 0.01 - w * (margin + 2)) for w in wiggle]
    evaluation = RuleEvaluation(rule)
    events = evaluation.apply([sample(first, 1000.0)], 1000.0)
    for index, value in enumerate(band):
        events += evaluation.apply([sample(value, 1001.0 + index)], 1001.0 + index)
    assert kinds(events) == ["firing"]


condition_tables = st.fixed_dictionaries(
    {
        "op": st.sampled_from([">", ">=", "<", "<="]),
        "threshold": st.integers(min_value=0, max_value=100),
        "margin": st.integers(min_value=0, max_value=20),
        "aggregation": st.sampled_from([None, "rate"]),
    }
)


@settings(max_examples=300, deadline=None)
@given(
    tables=st.lists(condition_tables, min_size=1, max_size=4),
    combine=st.sampled_from(["all", "any"]),
    value=st.integers(min_value=-20, max_value=120).map(float),
    firing=st.booleans(),
)
def test_composite_verdicts_agree_with_the_rule_definition(
    tables: list[dict[str, Any]], combine: str, value: float, firing: bool
) -> None:
    conditions = []
    for table in tables:
        sign = 1 if ">" in table["op"] else -1
        condition: dict[str, Any] = {
            "op": table["op"],
            "threshold": table["threshold"],
            "resolve_threshold": table["threshold"] - sign * table["margin"],
        }
        if table["aggregation"]:
            # One sample in a rate window: undefined (NaN), which never fires nor resolves.
            condition["aggregation"] = {"fn": table["aggregation"], "window": 60}
        conditions.append(condition)
    rule = CompositeRule.model_validate(
        {"id": "c", "selector": METRIC, "combine": combine, "conditions": conditions}
    )
    judge = compile_judge(rule)
    assert not isinstance(judge, ThresholdJudge)
    series = Series(series_key({}), {}, judge.new_windows())
    series.state = SeriesState.FIRING if firing else SeriesState.INACTIVE
    values = [math.nan if c.aggregation else value for c in rule.conditions]
    expected = not rule.resolves_on(values) if firing else rule.fires_on(values)
    assert judge(series, 1000.0, value) is expected


@settings(max_examples=300, deadline=None)
@given(rule=rules(), program=st.lists(steps, min_size=1, max_size=40))
def test_the_specialised_loops_give_exactly_what_the_general_loop_gives(
    rule: ThresholdRule, program: list[Samples | Tick | Restart]
) -> None:
    # apply has loops specialised for plain and windowed thresholds; the general loop
    # is the reference.  Same program, same events, same counters, same states.
    fast, general = RuleEvaluation(rule), RuleEvaluation(rule)
    general.fast_paths = False
    open_alerts: dict[str, AlertFiring] = {}
    now = 1000.0
    newest = {host: 1000.0 for host in HOSTS}
    for step in program:
        now += step.advance
        if isinstance(step, Samples):
            batch = timed_batch(step, newest)
            events = fast.apply(batch, now)
            assert events == general.apply(batch, now)
        elif isinstance(step, Tick):
            events = fast.tick(now)
            assert events == general.tick(now)
        else:
            fast, general = RuleEvaluation(rule), RuleEvaluation(rule)
            general.fast_paths = False
            assert fast.restore(open_alerts.values(), now) == general.restore(
                open_alerts.values(), now
            )
            events = []
        for event in events:
            if isinstance(event, AlertFiring):
                open_alerts[event.fingerprint] = event
            elif isinstance(event, AlertResolved):
                open_alerts.pop(event.fingerprint, None)
        assert fast.stats() == general.stats()
        assert fast.next_deadline() == general.next_deadline()
        for host in HOSTS:
            assert fast.state_of({"host": host}) == general.state_of({"host": host})
