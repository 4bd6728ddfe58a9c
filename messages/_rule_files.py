"""Rule documents: many rules at once, from TOML or parsed tables, with ids unique."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from messages._base import describe_error
from messages._rules import RULE_ADAPTER, CompositeRule, ThresholdRule

__all__ = ["RuleInvalid", "parse_rules_toml", "validate_rules"]


class RuleInvalid(ValueError):
    """Raised when a rule or rule document is invalid.

    The message names the rule (``rules[2] 'cpu-high'``), the field path
    (``aggregation.window``) and the reason, for every problem of the first invalid
    rule.  The attributes carry the first problem for programs: ``index`` (position
    in the document, or None), ``rule_id`` (None if the rule has no usable id),
    ``field`` (dotted path, or None for the document itself) and ``reason``.
    """

    def __init__(
        self,
        message: str,
        *,
        index: int | None = None,
        rule_id: str | None = None,
        field: str | None = None,
        reason: str = "",
    ) -> None:
        super().__init__(message)
        self.index = index
        self.rule_id = rule_id
        self.field = field
        self.reason = reason or message


def _rule_name(index: int, rule_id: str | None) -> str:
    return f"rules[{index}] {rule_id!r}" if rule_id is not None else f"rules[{index}]"


def _invalid_rule(exc: ValidationError, index: int, table: object) -> RuleInvalid:
    rule_id = table.get("id") if isinstance(table, Mapping) else None
    rule_id = rule_id if isinstance(rule_id, str) else None
    tag = table.get("type") if isinstance(table, Mapping) else None
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        # A discriminated union puts the tag first in the location: drop it.
        problems.append(describe_error(error, skip=1 if loc and loc[0] == tag else 0))
    field, reason = problems[0]
    details = "; ".join(f"{path or '(rule)'}: {why}" for path, why in problems)
    return RuleInvalid(
        f"invalid rule {_rule_name(index, rule_id)}: {details}",
        index=index,
        rule_id=rule_id,
        field=field or None,
        reason=reason,
    )


def validate_rules(tables: Sequence[object]) -> tuple[ThresholdRule | CompositeRule, ...]:
    """Validate rule tables (dicts from TOML or JSON) into rules, in order.

    Each table needs a ``type`` (``"threshold"`` or ``"composite"``).  Raises
    ``RuleInvalid`` for the first invalid rule, or for an id used twice (naming both
    positions).
    """
    rules: list[ThresholdRule | CompositeRule] = []
    first_use: dict[str, int] = {}
    for index, table in enumerate(tables):
        try:
            rule = RULE_ADAPTER.validate_python(table)
        except ValidationError as exc:
            raise _invalid_rule(exc, index, table) from exc
        if rule.id in first_use:
            reason = f"duplicate id: rules[{first_use[rule.id]}] already uses {rule.id!r}"
            raise RuleInvalid(
                f"invalid rule {_rule_name(index, rule.id)}: id: {reason}",
                index=index,
                rule_id=rule.id,
                field="id",
                reason=reason,
            )
        first_use[rule.id] = index
        rules.append(rule)
    return tuple(rules)


def parse_rules_toml(text: str) -> tuple[ThresholdRule | CompositeRule, ...]:
    """Parse a TOML rules document: one ``[[rules]]`` table per rule.

    Durations are seconds.  ``selector`` takes the text form or a table; ``matchers``
    a string or a list of strings.  Example::

        [[rules]]
        type = "threshold"
        id = "api-latency-high"
        selector = 'http_request_duration_seconds{job="api",quantile="0.99"}'
        aggregation = { fn = "avg", window = 60 }
        op = ">"
        threshold = 0.5
        resolve_threshold = 0.4          # hysteresis: resolves at 0.4 or below
        for = 120                        # pending for 2 minutes before firing
        no_data_timeout = 300
        severity = "critical"
        labels = { team = "api" }
        annotations = { summary = "p99 latency is {{ value }}s" }

        [[rules]]
        type = "composite"
        id = "cpu-saturated"
        selector = { metric = "node_cpu_percent", matchers = ['env="prod"'] }
        combine = "all"
        conditions = [
          { aggregation = { fn = "avg", window = 60 }, op = ">", threshold = 80 },
          { aggregation = { fn = "max", window = 300 }, op = ">", threshold = 95 },
        ]

    A document with no ``[[rules]]`` gives an empty tuple; any other top-level key is
    rejected.  Raises ``RuleInvalid`` for bad TOML, a bad document shape, an invalid
    rule or a duplicate id.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleInvalid(f"rules document is not valid TOML: {exc}", reason=str(exc)) from exc
    unknown = sorted(key for key in document if key != "rules")
    if unknown:
        reason = f"unknown top-level key {unknown[0]!r}: a rules document holds only [[rules]]"
        raise RuleInvalid(reason, field=unknown[0], reason=reason)
    tables = document.get("rules", [])
    if not isinstance(tables, list):
        reason = "'rules' must be an array of tables: write [[rules]], not [rules]"
        raise RuleInvalid(reason, field="rules", reason=reason)
    return validate_rules(tables)
