from __future__ import annotations

import json
import math
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messages import (
    RULE_ADAPTER,
    Aggregation,
    CallableRule,
    Comparison,
    CompositeRule,
    Condition,
    LabelMatcher,
    Selector,
    Severity,
    ThresholdRule,
)
from tests.messages.invalid import assert_invalid
from tests.messages.strategies import finite_floats, no_deadline


def threshold_data(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "type": "threshold",
        "id": "cpu-high",
        "selector": 'node_cpu_percent{env="prod"}',
        "op": ">",
        "threshold": 90,
    }
    data.update(changes)
    return data


def composite_data(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "type": "composite",
        "id": "cpu-saturated",
        "selector": "node_cpu_percent",
        "conditions": [
            {"aggregation": {"fn": "avg", "window": 60}, "op": ">", "threshold": 80},
            {"aggregation": {"fn": "max", "window": 300}, "op": ">", "threshold": 95},
        ],
    }
    data.update(changes)
    return data


def test_a_minimal_threshold_rule_gets_working_defaults() -> None:
    rule = ThresholdRule.model_validate(threshold_data())
    assert rule.selector == Selector(
        metric="node_cpu_percent", matchers=(LabelMatcher(name="env", op="=", value="prod"),)
    )
    assert rule.for_ == 0.0
    assert rule.keep_firing_for == 0.0
    assert rule.no_data_timeout is None
    assert rule.severity is Severity.WARNING
    assert rule.labels == {}
    assert rule.annotations == {}
    assert rule.enabled is True
    assert rule.aggregation is None
    assert rule.resolve_threshold is None


def test_a_full_threshold_rule_keeps_every_field() -> None:
    rule = ThresholdRule.model_validate(
        threshold_data(
            aggregation={"fn": "rate", "window": 300},
            resolve_threshold=80,
            keep_firing_for=60,
            no_data_timeout=600,
            severity="critical",
            labels={"team": "infra"},
            annotations={"summary": "CPU at {{ value }}", "description": "on {{ labels.host }}"},
            enabled=False,
            **{"for": 120},
        )
    )
    assert rule.aggregation == Aggregation(fn="rate", window=300)
    assert rule.for_ == 120.0
    assert rule.resolve_threshold == 80.0
    assert rule.no_data_timeout == 600.0
    assert rule.severity is Severity.CRITICAL
    assert rule.labels == {"team": "infra"}
    assert rule.annotations["summary"] == "CPU at {{ value }}"
    assert rule.enabled is False


def test_for_is_spelled_for_on_the_wire_and_for_underscore_in_python() -> None:
    rule = ThresholdRule.model_validate(threshold_data(**{"for": 30}))
    assert rule == ThresholdRule.model_validate(threshold_data(for_=30))
    dumped = json.loads(rule.model_dump_json())
    assert dumped["for"] == 30.0
    assert "for_" not in dumped


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"id": "has space"}, "id", "pattern"),
        ({"id": ""}, "id", "pattern"),
        ({"op": "=>"}, "op", "'>'"),
        ({"threshold": math.nan}, "threshold", "finite"),
        ({"threshold": "high"}, "threshold", "number"),
        ({"for": -1}, "for", "greater than or equal to 0"),
        ({"keep_firing_for": -1}, "keep_firing_for", "greater than or equal to 0"),
        ({"no_data_timeout": 0}, "no_data_timeout", "greater than 0"),
        ({"severity": "fatal"}, "severity", "'info', 'warning' or 'critical'"),
        ({"labels": {"team-name": "x"}}, "labels.team-name.[key]", "[a-zA-Z_]"),
        ({"labels": {"__tenant": "x"}}, "labels.__tenant.[key]", "reserved"),
        ({"labels": {"alertname": "x"}}, "labels", "set by Tocsin"),
        ({"labels": {"no_data": "x"}}, "labels", "set by Tocsin"),
        ({"annotations": {"summary": 3}}, "annotations.summary", "string"),
        ({"aggregation": {"fn": "median", "window": 60}}, "aggregation.fn", "'avg'"),
        ({"aggregation": {"fn": "avg", "window": 0}}, "aggregation.window", "greater than 0"),
        ({"selector": "cpu-usage"}, "selector", "expected '{'"),
        ({"selector": 'cpu{x=~"("}'}, "selector", "invalid regular expression"),
        ({"priority": 1}, "priority", "Extra inputs"),
    ],
)
def test_invalid_threshold_rules_name_the_field_and_reason(
    changes: dict[str, object], field: str, reason: str
) -> None:
    assert_invalid(lambda: ThresholdRule.model_validate(threshold_data(**changes)), field, reason)


@pytest.mark.parametrize(
    ("op", "threshold", "resolve"),
    [(">", 90, 80), (">", 90, 90), (">=", 90, 85), ("<", 10, 20), ("<=", 10, 10)],
)
def test_a_resolve_threshold_on_the_safe_side_is_accepted(
    op: Comparison, threshold: float, resolve: float
) -> None:
    rule = ThresholdRule.model_validate(
        threshold_data(op=op, threshold=threshold, resolve_threshold=resolve)
    )
    assert rule.resolve_threshold == resolve


@pytest.mark.parametrize(
    ("op", "threshold", "resolve", "reason"),
    [
        (">", 90, 95, "must be <= threshold"),
        (">=", 90, 90.5, "must be <= threshold"),
        ("<", 10, 5, "must be >= threshold"),
        ("<=", 10, 9, "must be >= threshold"),
        ("==", 10, 10, "meaningless"),
        ("!=", 10, 10, "meaningless"),
    ],
)
def test_a_resolve_threshold_on_the_wrong_side_is_rejected(
    op: Comparison, threshold: float, resolve: float, reason: str
) -> None:
    assert_invalid(
        lambda: ThresholdRule.model_validate(
            threshold_data(op=op, threshold=threshold, resolve_threshold=resolve)
        ),
        "resolve_threshold",
        reason,
    )


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        (">", 91, True),
        (">", 90, False),
        (">=", 90, True),
        (">=", 89.9, False),
        ("<", 89, True),
        ("<", 90, False),
        ("<=", 90, True),
        ("<=", 90.1, False),
        ("==", 90, True),
        ("==", 90.5, False),
        ("!=", 90.5, True),
        ("!=", 90, False),
    ],
)
def test_compare_applies_the_operator_against_the_threshold(
    op: Comparison, value: float, expected: bool
) -> None:
    rule = ThresholdRule.model_validate(threshold_data(op=op, threshold=90))
    assert rule.compare(value) is expected
    assert rule.fires_on([value]) is expected


def test_nan_neither_fires_nor_resolves() -> None:
    rule = ThresholdRule.model_validate(threshold_data(op="!=", threshold=90))
    assert not rule.compare(math.nan)
    assert not rule.resolved_by(math.nan)


def test_without_hysteresis_resolution_is_the_negated_comparison() -> None:
    rule = ThresholdRule.model_validate(threshold_data(op=">", threshold=90))
    assert rule.resolved_by(90)
    assert not rule.resolved_by(90.1)


def test_with_hysteresis_a_high_alert_resolves_only_at_the_resolve_threshold() -> None:
    rule = ThresholdRule.model_validate(threshold_data(op=">", threshold=90, resolve_threshold=80))
    assert rule.compare(91)
    assert not rule.compare(85)
    assert not rule.resolved_by(85)
    assert rule.resolved_by(80)
    assert rule.resolves_on([79])


def test_with_hysteresis_a_low_alert_resolves_only_at_the_resolve_threshold() -> None:
    rule = ThresholdRule.model_validate(threshold_data(op="<", threshold=10, resolve_threshold=20))
    assert rule.compare(9)
    assert not rule.resolved_by(15)
    assert rule.resolved_by(20)


@no_deadline
@given(
    op=st.sampled_from([">", ">=", "<", "<="]),
    threshold=finite_floats,
    gap=st.floats(min_value=0, max_value=1e6),
    value=finite_floats,
)
def test_a_value_never_both_fires_and_resolves(
    op: Comparison, threshold: float, gap: float, value: float
) -> None:
    resolve = threshold - gap if op in (">", ">=") else threshold + gap
    if not math.isfinite(resolve):
        return
    condition = Condition(op=op, threshold=threshold, resolve_threshold=resolve)
    assert not (condition.compare(value) and condition.resolved_by(value))


def test_a_threshold_rule_presents_itself_as_one_condition() -> None:
    rule = ThresholdRule.model_validate(
        threshold_data(aggregation={"fn": "avg", "window": 60}, resolve_threshold=85)
    )
    assert rule.conditions == (
        Condition(
            aggregation=Aggregation(fn="avg", window=60), op=">", threshold=90, resolve_threshold=85
        ),
    )
    assert rule.combine == "all"


def test_a_composite_rule_keeps_its_conditions_in_order() -> None:
    rule = CompositeRule.model_validate(composite_data())
    assert [c.aggregation.fn if c.aggregation else None for c in rule.conditions] == ["avg", "max"]
    assert rule.combine == "all"


@pytest.mark.parametrize(
    ("combine", "values", "fires"),
    [
        ("all", [85, 96], True),
        ("all", [85, 90], False),
        ("all", [70, 96], False),
        ("any", [85, 90], True),
        ("any", [70, 96], True),
        ("any", [70, 90], False),
    ],
)
def test_a_composite_rule_combines_its_conditions(
    combine: str, values: list[float], fires: bool
) -> None:
    rule = CompositeRule.model_validate(composite_data(combine=combine))
    assert rule.fires_on(values) is fires


def test_an_all_composite_resolves_when_any_condition_resolves_under_hysteresis() -> None:
    rule = CompositeRule.model_validate(
        composite_data(
            conditions=[
                {"op": ">", "threshold": 80, "resolve_threshold": 70},
                {"op": ">", "threshold": 95},
            ]
        )
    )
    assert rule.fires_on([85, 96])
    assert not rule.resolves_on([75, 96])
    assert rule.resolves_on([70, 96])
    assert rule.resolves_on([85, 95])


def test_an_any_composite_resolves_only_when_every_condition_resolves() -> None:
    rule = CompositeRule.model_validate(composite_data(combine="any"))
    assert not rule.resolves_on([70, 96])
    assert rule.resolves_on([70, 90])


def test_a_composite_rule_needs_one_value_per_condition() -> None:
    rule = CompositeRule.model_validate(composite_data())
    with pytest.raises(ValueError, match="one value per condition"):
        rule.fires_on([70])
    with pytest.raises(ValueError, match="one value per condition"):
        rule.resolves_on([70, 80, 90])


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"conditions": []}, "conditions", "at least 1 item"),
        ({"combine": "most"}, "combine", "'all' or 'any'"),
        ({"conditions": [{"op": ">"}]}, "conditions.0.threshold", "Field required"),
        (
            {"conditions": [{"op": "<", "threshold": 5, "resolve_threshold": 1}]},
            "conditions.0.resolve_threshold",
            "must be >= threshold",
        ),
        ({"op": ">"}, "op", "Extra inputs"),
    ],
)
def test_invalid_composite_rules_name_the_field_and_reason(
    changes: dict[str, object], field: str, reason: str
) -> None:
    assert_invalid(lambda: CompositeRule.model_validate(composite_data(**changes)), field, reason)


def test_the_rule_adapter_dispatches_json_on_type() -> None:
    threshold = RULE_ADAPTER.validate_json(json.dumps(threshold_data()).encode())
    composite = RULE_ADAPTER.validate_json(json.dumps(composite_data()).encode())
    assert isinstance(threshold, ThresholdRule)
    assert isinstance(composite, CompositeRule)


def test_the_rule_adapter_rejects_an_unknown_type_naming_the_field() -> None:
    assert_invalid(
        lambda: RULE_ADAPTER.validate_python(threshold_data(type="callable")),
        "",
        "'threshold', 'composite'",
    )


@pytest.mark.parametrize("data", [threshold_data(), composite_data()])
def test_rules_round_trip_through_json(data: dict[str, object]) -> None:
    rule = RULE_ADAPTER.validate_python(data)
    assert RULE_ADAPTER.validate_json(RULE_ADAPTER.dump_json(rule)) == rule


def rising(window: Sequence[tuple[float, float]]) -> bool:
    return window[-1][1] > window[0][1]


def test_a_callable_rule_holds_its_condition_and_shared_fields() -> None:
    rule = CallableRule(
        id="rising",
        selector=Selector(metric="queue_depth"),
        window=60,
        condition=rising,
        severity=Severity.INFO,
    )
    assert rule.condition([(1.0, 1.0), (2.0, 3.0)])
    assert rule.selector == Selector(metric="queue_depth")
    assert rule.window == 60.0


def test_a_callable_rule_needs_a_callable() -> None:
    assert_invalid(
        lambda: CallableRule.model_validate(
            {"id": "x", "selector": "up", "window": 60, "condition": "lambda w: True"}
        ),
        "condition",
        "callable",
    )


def test_a_callable_rule_is_not_a_wire_rule() -> None:
    assert_invalid(
        lambda: RULE_ADAPTER.validate_python(
            {"type": "callable", "id": "x", "selector": "up", "window": 60, "condition": rising}
        ),
        "",
        "does not match any of the expected tags",
    )


def test_a_copied_threshold_rule_reports_its_own_condition() -> None:
    rule = ThresholdRule.model_validate(threshold_data())
    assert rule.conditions[0].threshold == 90
    copied = rule.model_copy(update={"threshold": 95.0})
    assert copied.conditions[0].threshold == 95
    assert copied.compare(93) is False
