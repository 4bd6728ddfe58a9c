"""Inhibition as Alertmanager: a firing source mutes matching targets with equal labels."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from actors.alerting import AlertBook, Inhibitor, InhibitRule
from actors.alerting._book import ALERTS
from messages import AlertState, Severity
from tests.alerting.builders import T0, documents, firing, kinds, resolved

CRITICAL_MUTES_WARNING = InhibitRule.model_validate(
    {
        "source_matchers": ['severity="critical"'],
        "target_matchers": ['severity="warning"'],
        "equal": ["host"],
    }
)


def rule(**fields: Any) -> InhibitRule:
    return InhibitRule.model_validate(fields)


# -- the index ---------------------------------------------------------------------------------


def test_a_source_inhibits_a_target_with_equal_labels() -> None:
    inhibitor = Inhibitor([CRITICAL_MUTES_WARNING])
    inhibitor.add("t", {"severity": "warning", "host": "a"})
    assert inhibitor.add("s", {"severity": "critical", "host": "a"}) == {"t"}
    assert inhibitor.inhibitors("t") == {"s"}
    assert inhibitor.inhibitors("s") == frozenset()


def test_a_source_with_a_different_equal_label_does_not_inhibit() -> None:
    inhibitor = Inhibitor([CRITICAL_MUTES_WARNING])
    inhibitor.add("t", {"severity": "warning", "host": "a"})
    assert inhibitor.add("s", {"severity": "critical", "host": "b"}) == set()
    assert inhibitor.inhibitors("t") == frozenset()


def test_an_equal_label_missing_from_both_alerts_counts_as_equal() -> None:
    inhibitor = Inhibitor([CRITICAL_MUTES_WARNING])
    inhibitor.add("t", {"severity": "warning"})
    inhibitor.add("s", {"severity": "critical"})
    assert inhibitor.inhibitors("t") == {"s"}


def test_removing_the_source_releases_its_targets() -> None:
    inhibitor = Inhibitor([CRITICAL_MUTES_WARNING])
    inhibitor.add("t", {"severity": "warning", "host": "a"})
    inhibitor.add("s", {"severity": "critical", "host": "a"})
    assert inhibitor.remove("s") == {"t"}
    assert inhibitor.inhibitors("t") == frozenset()
    assert inhibitor.remove("s") == set()


def test_an_alert_never_inhibits_itself() -> None:
    inhibitor = Inhibitor([rule(source_matchers=['job="x"'], target_matchers=['job="x"'])])
    inhibitor.add("a", {"job": "x"})
    assert inhibitor.inhibitors("a") == frozenset()


def test_alerts_matching_both_sides_do_not_inhibit_each_other() -> None:
    # Alertmanager's excludeTwoSidedMatch: otherwise two such alerts would mute each other.
    both = rule(source_matchers=['job="x"'], target_matchers=['job="x"'])
    inhibitor = Inhibitor([both])
    inhibitor.add("a", {"job": "x"})
    inhibitor.add("b", {"job": "x"})
    assert inhibitor.inhibitors("a") == frozenset()
    assert inhibitor.inhibitors("b") == frozenset()


def test_a_one_sided_source_still_inhibits_an_alert_matching_both_sides() -> None:
    inhibitor = Inhibitor([rule(source_matchers=['tier=~"x|y"'], target_matchers=['tier="x"'])])
    inhibitor.add("both", {"tier": "x"})
    inhibitor.add("source", {"tier": "y"})
    assert inhibitor.inhibitors("both") == {"source"}


@pytest.mark.parametrize(
    "fields",
    [
        {"source_matchers": [], "target_matchers": ['a="b"']},
        {"source_matchers": ['a="b"'], "target_matchers": []},
        {"source_matchers": ['a="b"'], "target_matchers": ['a="b"'], "equal": ["__x"]},
        {"source_matchers": ['a="b"'], "target_matchers": ['a="b"'], "extra": 1},
    ],
)
def test_an_invalid_inhibit_rule_is_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        InhibitRule.model_validate(fields)


# -- in the book ---------------------------------------------------------------------------------


def test_a_target_opening_while_its_source_fires_opens_suppressed() -> None:
    book = AlertBook(inhibit_rules=[CRITICAL_MUTES_WARNING])
    book.fire(firing("disk", severity=Severity.CRITICAL, host="a"), T0)
    events = book.fire(firing("cpu", host="a"), T0 + 1)
    assert kinds(events) == ["alert_opened"]
    assert events[0].payload["inhibited_by"] == ["alert-1"]
    assert book.get("alert-2").state is AlertState.SUPPRESSED


def test_a_source_opening_later_suppresses_existing_targets_and_releases_them_on_resolve() -> None:
    book = AlertBook(inhibit_rules=[CRITICAL_MUTES_WARNING])
    book.fire(firing("cpu", host="a"), T0)
    book.fire(firing("cpu", host="b"), T0)
    events = book.fire(firing("disk", severity=Severity.CRITICAL, host="a"), T0 + 1)
    assert kinds(events) == ["alert_opened", "alert_suppressed"]
    assert events[1].alert_id == "alert-1"
    assert events[1].payload["inhibited_by"] == ["alert-3"]
    assert book.get("alert-2").state is AlertState.ACTIVE
    book.acknowledge("alert-3", "ann", "", T0 + 2)  # an acknowledged source still fires
    assert book.get("alert-1").state is AlertState.SUPPRESSED
    events = book.resolve_automatically(resolved("disk", host="a"), T0 + 3)
    assert kinds(events) == ["alert_resolved", "alert_unsuppressed"]
    assert book.get("alert-1").state is AlertState.ACTIVE


def test_inhibition_is_recomputed_on_restore_with_the_rules_in_force() -> None:
    book = AlertBook(inhibit_rules=[CRITICAL_MUTES_WARNING])
    book.fire(firing("disk", severity=Severity.CRITICAL, host="a"), T0)
    book.fire(firing("cpu", host="a"), T0)
    docs = documents(book.drain_writes())
    assert docs[ALERTS]["alert-2"]["inhibited_by"] == ["alert-1"]
    same = AlertBook.restore(docs, inhibit_rules=[CRITICAL_MUTES_WARNING])
    assert same.reconcile(T0 + 1) == []
    without = AlertBook.restore(docs)
    assert kinds(without.reconcile(T0 + 1)) == ["alert_unsuppressed"]
    assert without.get("alert-2").state is AlertState.ACTIVE


def test_a_source_whose_severity_drops_releases_its_targets() -> None:
    book = AlertBook(inhibit_rules=[CRITICAL_MUTES_WARNING])
    book.fire(firing("disk", severity=Severity.CRITICAL, host="a"), T0)
    book.fire(firing("cpu", host="a"), T0)
    assert book.get("alert-2").state is AlertState.SUPPRESSED
    events = book.fire(firing("disk", severity=Severity.WARNING, host="a"), T0 + 1)
    assert kinds(events) == ["alert_updated", "alert_unsuppressed"]
    assert book.get("alert-2").state is AlertState.ACTIVE
    assert book.get("alert-1").state is AlertState.ACTIVE  # warning, but no critical source


def test_a_target_whose_severity_rises_out_of_the_target_matchers_is_released() -> None:
    book = AlertBook(inhibit_rules=[CRITICAL_MUTES_WARNING])
    book.fire(firing("disk", severity=Severity.CRITICAL, host="a"), T0)
    book.fire(firing("cpu", host="a"), T0)
    events = book.fire(firing("cpu", severity=Severity.CRITICAL, host="a"), T0 + 1)
    assert kinds(events) == ["alert_updated", "alert_unsuppressed"]
    assert book.get("alert-2").state is AlertState.ACTIVE
    events = book.fire(firing("cpu", severity=Severity.WARNING, host="a"), T0 + 2)
    assert kinds(events) == ["alert_updated", "alert_suppressed"]
    assert book.get("alert-2").inhibited_by == frozenset({"alert-1"})
