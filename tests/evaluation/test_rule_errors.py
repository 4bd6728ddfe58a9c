"""Templates and Python conditions that fail: reported, never raised, state kept."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import pytest

from actors.evaluation import (
    ERROR_REPORT_INTERVAL,
    MAX_ANNOTATION_LENGTH,
    AnnotationTemplates,
    RuleEvaluation,
    SeriesState,
    check_templates,
)
from messages import AlertFiring, CallableRule, RuleError, RuleInvalid
from tests.evaluation.samples import LABELS, METRIC, kinds, sample, threshold_rule

# -- templates --------------------------------------------------------------------------------


def test_annotations_render_labels_value_rule_id_and_severity() -> None:
    rule = threshold_rule(
        severity="critical",
        annotations={
            "summary": "{{ labels.host }} at {{ value }}%",
            "description": "{{ rule_id }} is {{ severity }} ({{ labels.alertname }})",
        },
    )
    (event,) = RuleEvaluation(rule).apply([sample(95.5, 100.0)], 100.0)
    assert isinstance(event, AlertFiring)
    assert event.annotations == {
        "summary": "a at 95.5%",
        "description": "cpu-high is critical (cpu-high)",
    }


def test_a_missing_label_renders_empty() -> None:
    rule = threshold_rule(annotations={"summary": "[{{ labels.nope }}]"})
    (event,) = RuleEvaluation(rule).apply([sample(95.0, 100.0)], 100.0)
    assert isinstance(event, AlertFiring)
    assert event.annotations["summary"] == "[]"


def test_a_template_that_fails_to_render_falls_back_to_its_text_and_reports_an_error() -> None:
    rule = threshold_rule(annotations={"summary": "{{ 1 / 0 }}", "ok": "fine"})
    firing, error = RuleEvaluation(rule).apply([sample(95.0, 100.0)], 100.0)
    assert isinstance(firing, AlertFiring)
    assert firing.annotations == {"summary": "{{ 1 / 0 }}", "ok": "fine"}
    assert isinstance(error, RuleError)
    assert "summary" in error.error
    assert "ZeroDivisionError" in error.error
    assert error.fingerprint == firing.fingerprint
    assert error.at == 100.0


def test_a_template_that_does_not_compile_still_lets_the_alert_fire() -> None:
    rule = threshold_rule(annotations={"summary": "{{ oops"})
    events = RuleEvaluation(rule).apply([sample(95.0, 100.0)], 100.0)
    assert kinds(events) == ["firing", "error"]
    assert isinstance(events[0], AlertFiring)
    assert events[0].annotations == {"summary": "{{ oops"}
    assert isinstance(events[1], RuleError)
    assert "does not compile" in events[1].error


@pytest.mark.parametrize(
    "template",
    [
        "{{ labels.__class__.__mro__ }}",
        "{{ ''.__class__.__subclasses__() }}",
        "{{ 'x' * 1000000000 }}",
        "{{ 10 ** 100000 }}",
        "{{ range(10000000) | list }}",
    ],
)
def test_the_sandbox_refuses_unsafe_or_huge_templates(template: str) -> None:
    annotations, errors = AnnotationTemplates({"summary": template}).render(
        {"labels": {"host": "a"}, "value": 1.0}
    )
    assert annotations == {"summary": template}
    assert len(errors) == 1


def test_rendered_annotations_are_cut_at_the_maximum_length() -> None:
    template = "{% for i in range(5000) %}xx{% endfor %}"
    annotations, errors = AnnotationTemplates({"summary": template}).render({})
    assert errors == []
    assert len(annotations["summary"]) == MAX_ANNOTATION_LENGTH
    assert annotations["summary"].endswith("…")


def test_check_templates_names_the_annotation_that_does_not_compile() -> None:
    check_templates("r", {"summary": "{{ value }}"})
    with pytest.raises(RuleInvalid, match=r"annotations\.description") as caught:
        check_templates("r", {"summary": "ok", "description": "{% if %}"})
    assert caught.value.field == "annotations.description"
    assert caught.value.rule_id == "r"


def test_the_same_error_is_reported_once_per_interval_and_counted() -> None:
    rule = threshold_rule(annotations={"summary": "{{ 1 / 0 }}"})
    evaluation = RuleEvaluation(rule)
    assert kinds(evaluation.apply([sample(95.0, 100.0, host="a")], 100.0)) == ["firing", "error"]
    assert kinds(evaluation.apply([sample(95.0, 101.0, host="b")], 101.0)) == ["firing"]
    later = 100.0 + ERROR_REPORT_INTERVAL
    events = evaluation.apply([sample(95.0, later, host="c")], later)
    assert kinds(events) == ["firing", "error"]
    stats = evaluation.stats()
    assert (stats.template_errors, stats.errors_suppressed) == (3, 1)


# -- Python conditions ------------------------------------------------------------------------


def callable_rule(
    condition: Callable[[Sequence[tuple[float, float]]], object], window: float = 60.0
) -> CallableRule:
    return CallableRule.model_validate(
        {"id": "custom", "selector": METRIC, "window": window, "condition": condition}
    )


def test_a_callable_condition_gets_the_window_oldest_first() -> None:
    seen: list[tuple[tuple[float, float], ...]] = []

    def condition(window: Sequence[tuple[float, float]]) -> bool:
        seen.append(tuple(window))
        return sum(value for _, value in window) > 10

    evaluation = RuleEvaluation(callable_rule(condition, window=15.0))
    assert evaluation.apply([sample(4.0, 100.0), sample(5.0, 110.0)], 110.0) == []
    (event,) = evaluation.apply([sample(6.0, 112.0)], 112.0)
    assert isinstance(event, AlertFiring)
    assert event.value == 6.0
    assert seen[-1] == ((100.0, 4.0), (110.0, 5.0), (112.0, 6.0))
    assert kinds(evaluation.apply([sample(0.0, 130.0)], 130.0)) == ["resolved"]


def test_a_callable_condition_that_raises_is_a_rule_error_and_the_series_keeps_its_state() -> None:
    def condition(window: Sequence[tuple[float, float]]) -> bool:
        value = window[-1][1]
        if value < 0:
            raise ValueError("negative!")
        return value > 90

    evaluation = RuleEvaluation(callable_rule(condition))
    evaluation.apply([sample(95.0, 100.0)], 100.0)
    (error,) = evaluation.apply([sample(-1.0, 110.0)], 110.0)
    assert isinstance(error, RuleError)
    assert "ValueError: negative!" in error.error
    assert error.rule_id == "custom"
    assert error.fingerprint is not None
    assert evaluation.state_of(LABELS) is SeriesState.FIRING
    assert evaluation.stats().condition_errors == 1


def test_a_result_whose_truth_value_raises_is_a_rule_error_too() -> None:
    class Undecidable:
        def __bool__(self) -> bool:
            raise RuntimeError("cannot say")

    evaluation = RuleEvaluation(callable_rule(lambda window: Undecidable()))
    (error,) = evaluation.apply([sample(1.0, 100.0)], 100.0)
    assert isinstance(error, RuleError)
    assert "cannot say" in error.error
    assert evaluation.state_of(LABELS) is SeriesState.INACTIVE


def test_a_callable_condition_cannot_corrupt_the_window() -> None:
    def condition(window: Sequence[tuple[float, float]]) -> bool:
        with contextlib.suppress(AttributeError):
            window.clear()  # type: ignore[attr-defined]
        return len(window) >= 2

    evaluation = RuleEvaluation(callable_rule(condition))
    evaluation.apply([sample(1.0, 100.0)], 100.0)
    assert kinds(evaluation.apply([sample(1.0, 101.0)], 101.0)) == ["firing"]
