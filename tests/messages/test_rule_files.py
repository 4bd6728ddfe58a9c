from __future__ import annotations

import textwrap

import pytest

import messages
from messages import (
    Aggregation,
    CompositeRule,
    RuleInvalid,
    Severity,
    ThresholdRule,
    parse_rules_toml,
    validate_rules,
)

GOOD = """
[[rules]]
type = "threshold"
id = "api-latency-high"
selector = 'http_request_duration_seconds{job="api",quantile="0.99"}'
aggregation = { fn = "avg", window = 60 }
op = ">"
threshold = 0.5
resolve_threshold = 0.4
for = 120
severity = "critical"
labels = { team = "api" }
annotations = { summary = "p99 latency is {{ value }}s" }

[[rules]]
type = "composite"
id = "cpu-saturated"
selector = { metric = "node_cpu_percent", matchers = ['env="prod"'] }
combine = "any"
conditions = [
  { aggregation = { fn = "avg", window = 60 }, op = ">", threshold = 80 },
  { aggregation = { fn = "max", window = 300 }, op = ">", threshold = 95 },
]
"""


def rule_toml(rule_id: str, extra: str = "") -> str:
    return textwrap.dedent(
        f"""
        [[rules]]
        type = "threshold"
        id = "{rule_id}"
        selector = "up"
        op = "<"
        threshold = 1
        """
    ) + textwrap.dedent(extra)


def test_a_good_document_gives_its_rules_in_order() -> None:
    threshold, composite = parse_rules_toml(GOOD)
    assert isinstance(threshold, ThresholdRule)
    assert threshold.id == "api-latency-high"
    assert threshold.for_ == 120.0
    assert threshold.aggregation == Aggregation(fn="avg", window=60)
    assert threshold.severity is Severity.CRITICAL
    assert str(threshold.selector) == 'http_request_duration_seconds{job="api",quantile="0.99"}'
    assert isinstance(composite, CompositeRule)
    assert composite.combine == "any"
    assert len(composite.conditions) == 2


def test_the_docstring_example_parses() -> None:
    doc = messages.parse_rules_toml.__doc__
    assert doc is not None
    example = doc.split("Example::")[1].split("A document with")[0]
    rules = parse_rules_toml(textwrap.dedent(example))
    assert [rule.id for rule in rules] == ["api-latency-high", "cpu-saturated"]


def test_a_document_without_rules_gives_none() -> None:
    assert parse_rules_toml("# nothing yet\n") == ()


def test_a_duplicate_id_is_rejected_naming_both_rules() -> None:
    text = rule_toml("a") + rule_toml("b") + rule_toml("a")
    with pytest.raises(RuleInvalid) as caught:
        parse_rules_toml(text)
    error = caught.value
    assert (error.index, error.rule_id, error.field) == (2, "a", "id")
    assert "rules[2] 'a'" in str(error)
    assert "rules[0]" in str(error)
    assert "duplicate id" in str(error)


def test_a_bad_field_is_rejected_naming_the_rule_the_field_and_the_reason() -> None:
    text = rule_toml("ok") + rule_toml("bad", "for = -5\n")
    with pytest.raises(RuleInvalid) as caught:
        parse_rules_toml(text)
    error = caught.value
    assert (error.index, error.rule_id, error.field) == (1, "bad", "for")
    assert error.reason == "Input should be greater than or equal to 0"
    assert str(error) == (
        "invalid rule rules[1] 'bad': for: Input should be greater than or equal to 0"
    )


def test_a_nested_bad_field_is_named_by_its_full_path() -> None:
    text = GOOD.replace("window = 300", "window = -1")
    with pytest.raises(RuleInvalid) as caught:
        parse_rules_toml(text)
    assert caught.value.field == "conditions[1].aggregation.window"
    assert caught.value.rule_id == "cpu-saturated"


def test_every_problem_of_the_rule_is_listed() -> None:
    text = rule_toml("bad", 'severity = "loud"\nkeep_firing_for = -1\n')
    with pytest.raises(RuleInvalid) as caught:
        parse_rules_toml(text)
    assert "severity:" in str(caught.value)
    assert "keep_firing_for:" in str(caught.value)


def test_a_hysteresis_error_names_resolve_threshold() -> None:
    text = rule_toml("low", "resolve_threshold = 0.5\n")
    with pytest.raises(RuleInvalid, match="must be >= threshold") as caught:
        parse_rules_toml(text)
    assert caught.value.field == "resolve_threshold"


def test_a_rule_without_a_type_is_rejected_naming_the_type_field() -> None:
    with pytest.raises(RuleInvalid) as caught:
        parse_rules_toml('[[rules]]\nid = "x"\nselector = "up"\n')
    assert caught.value.field == "type"
    assert "rules[0] 'x'" in str(caught.value)


def test_a_rule_without_an_id_is_named_by_its_index() -> None:
    text = '[[rules]]\ntype = "threshold"\nselector = "up"\nop = ">"\nthreshold = 1\n'
    with pytest.raises(RuleInvalid) as caught:
        parse_rules_toml(text)
    assert caught.value.rule_id is None
    assert caught.value.field == "id"
    assert str(caught.value).startswith("invalid rule rules[0]: id: Field required")


def test_invalid_toml_is_rejected_with_the_parser_reason() -> None:
    with pytest.raises(RuleInvalid, match="not valid TOML") as caught:
        parse_rules_toml("[[rules]\n")
    assert caught.value.index is None


def test_unknown_top_level_keys_are_rejected() -> None:
    with pytest.raises(RuleInvalid, match="unknown top-level key 'version'"):
        parse_rules_toml("version = 1\n" + rule_toml("a"))


def test_a_single_rules_table_is_rejected_with_a_hint() -> None:
    with pytest.raises(RuleInvalid, match=r"write \[\[rules\]\]"):
        parse_rules_toml('[rules]\nid = "a"\n')


def test_rule_invalid_is_a_value_error() -> None:
    assert issubclass(RuleInvalid, ValueError)


def test_validate_rules_checks_tables_from_any_source() -> None:
    rules = validate_rules(
        [{"type": "threshold", "id": "a", "selector": "up", "op": "<", "threshold": 1}]
    )
    assert [rule.id for rule in rules] == ["a"]
    with pytest.raises(RuleInvalid, match=r"rules\[0\]: \(rule\)"):
        validate_rules(["not a table"])
