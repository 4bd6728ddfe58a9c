"""Deciding a rule change before doing it: validation and the plan (no actors here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from actors._rule_commands import RuleChanges
from actors.evaluation import check_templates
from messages import AnyRule, RuleInvalid

__all__ = ["RulePlan", "check_rules", "plan_changes"]


def check_rules(rules: Sequence[AnyRule]) -> None:
    """Raise ``RuleInvalid`` for the first problem that makes ``rules`` unacceptable.

    Problems: an id used twice, an annotation template that does not compile.  The
    rules themselves are already valid models.
    """
    first_use: dict[str, int] = {}
    for index, rule in enumerate(rules):
        if rule.id in first_use:
            reason = f"duplicate id: rules[{first_use[rule.id]}] already uses {rule.id!r}"
            raise RuleInvalid(
                f"invalid rule rules[{index}] {rule.id!r}: id: {reason}",
                index=index,
                rule_id=rule.id,
                field="id",
                reason=reason,
            )
        first_use[rule.id] = index
        try:
            check_templates(rule.id, rule.annotations)
        except RuleInvalid as error:
            error.index = index
            raise


@dataclass(frozen=True, slots=True)
class RulePlan:
    """What to stop and start to go from the running rules to the wanted ones.

    ``start`` holds the added and replaced rules, in the order they were given;
    ``stop`` the ids of replaced and removed rules.
    """

    start: tuple[AnyRule, ...]
    stop: tuple[str, ...]
    changes: RuleChanges


def plan_changes(
    running: Mapping[str, AnyRule], wanted: Sequence[AnyRule], *, prune: bool
) -> RulePlan:
    """Return the plan that makes ``running`` hold ``wanted`` (and only it, with ``prune``).

    A wanted rule equal to the running one is unchanged: reloading the same file is a
    no-op, and its alerts carry on.
    """
    added: list[str] = []
    replaced: list[str] = []
    unchanged: list[str] = []
    start: list[AnyRule] = []
    for rule in wanted:
        current = running.get(rule.id)
        if current is None:
            added.append(rule.id)
            start.append(rule)
        elif current != rule:
            replaced.append(rule.id)
            start.append(rule)
        else:
            unchanged.append(rule.id)
    wanted_ids = {rule.id for rule in wanted}
    removed = sorted(rule_id for rule_id in running if rule_id not in wanted_ids) if prune else []
    return RulePlan(
        start=tuple(start),
        stop=tuple(sorted(replaced)) + tuple(removed),
        changes=RuleChanges(
            added=tuple(sorted(added)),
            replaced=tuple(sorted(replaced)),
            removed=tuple(removed),
            unchanged=tuple(sorted(unchanged)),
        ),
    )
