"""Inhibition, as Alertmanager: a firing source alert mutes matching target alerts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from messages import LabelMatcher, LabelName, Matchers

__all__ = ["InhibitRule", "Inhibitor"]


class InhibitRule(BaseModel):
    """Mute alerts matching ``target_matchers`` while one matching ``source_matchers`` fires.

    As Alertmanager's ``inhibit_rules``: the source and the target must have equal
    values for every label in ``equal`` (a label missing from both counts as equal,
    both being empty), and an alert never inhibits itself. An alert that matches both
    sides of the rule is not inhibited by another alert that also matches both sides,
    so two such alerts cannot mute each other (Alertmanager's two-sided match rule).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_matchers: Annotated[Matchers, Field(min_length=1)]
    target_matchers: Annotated[Matchers, Field(min_length=1)]
    equal: tuple[LabelName, ...] = ()


def _matches(matchers: Sequence[LabelMatcher], labels: Mapping[str, str]) -> bool:
    return all(matcher.matches(labels) for matcher in matchers)


class _RuleIndex:
    """Open alerts that match one rule's sides, keyed by their ``equal`` label values."""

    __slots__ = ("rule", "sources", "targets")

    def __init__(self, rule: InhibitRule) -> None:
        self.rule = rule
        self.sources: dict[tuple[str, ...], set[str]] = {}
        self.targets: dict[tuple[str, ...], set[str]] = {}

    def key(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(labels.get(name, "") for name in self.rule.equal)


class Inhibitor:
    """Track the open alerts and answer which alerts inhibit which; pure and synchronous.

    Cost is proportional to the alerts sharing a rule's ``equal`` key, never to all
    open alerts: each rule indexes its sources and targets by that key.
    """

    def __init__(self, rules: Sequence[InhibitRule] = ()) -> None:
        self._indexes = [_RuleIndex(rule) for rule in rules]
        # alert id -> (labels, [(rule index, key, is source, is target)])
        self._placed: dict[str, list[tuple[_RuleIndex, tuple[str, ...], bool, bool]]] = {}

    def __bool__(self) -> bool:
        return bool(self._indexes)

    def add(self, alert_id: str, labels: Mapping[str, str]) -> set[str]:
        """Track an open alert; return the ids whose inhibitors may have changed.

        The result includes ``alert_id`` itself when it is a target of some rule.
        """
        affected: set[str] = set()
        placed: list[tuple[_RuleIndex, tuple[str, ...], bool, bool]] = []
        for index in self._indexes:
            is_source = _matches(index.rule.source_matchers, labels)
            is_target = _matches(index.rule.target_matchers, labels)
            if not (is_source or is_target):
                continue
            key = index.key(labels)
            if is_source:
                index.sources.setdefault(key, set()).add(alert_id)
                affected |= index.targets.get(key, set())
            if is_target:
                index.targets.setdefault(key, set()).add(alert_id)
                affected.add(alert_id)
            placed.append((index, key, is_source, is_target))
        if placed:
            self._placed[alert_id] = placed
        return affected

    def remove(self, alert_id: str) -> set[str]:
        """Stop tracking an alert (it resolved); return the ids it may have inhibited."""
        affected: set[str] = set()
        for index, key, is_source, is_target in self._placed.pop(alert_id, ()):
            if is_source:
                _discard(index.sources, key, alert_id)
                affected |= index.targets.get(key, set())
            if is_target:
                _discard(index.targets, key, alert_id)
        affected.discard(alert_id)
        return affected

    def inhibitors(self, alert_id: str) -> frozenset[str]:
        """Return the ids of the open alerts that inhibit ``alert_id`` now."""
        found: set[str] = set()
        for index, key, is_source, is_target in self._placed.get(alert_id, ()):
            if not is_target:
                continue
            targets = index.targets.get(key, set())
            for source in index.sources.get(key, ()):
                if source == alert_id:
                    continue
                if is_source and source in targets:
                    # As Alertmanager (excludeTwoSidedMatch): alerts matching both
                    # sides do not inhibit one another.
                    continue
                found.add(source)
        return frozenset(found)


def _discard(table: dict[tuple[str, ...], set[str]], key: tuple[str, ...], alert_id: str) -> None:
    members = table.get(key)
    if members is not None:
        members.discard(alert_id)
        if not members:
            del table[key]
