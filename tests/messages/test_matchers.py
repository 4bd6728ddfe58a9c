from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from messages import (
    LabelMatcher,
    MatcherInvalid,
    Matchers,
    MatchOp,
    MetricSample,
    Selector,
    SelectorInput,
    format_matchers,
    parse_matchers,
    parse_selector,
)
from tests.messages.invalid import assert_invalid
from tests.messages.strategies import label_names, label_sets, label_values, no_deadline

OPS: tuple[MatchOp, ...] = ("=", "!=", "=~", "!~")


def matcher(name: str, op: MatchOp, value: str) -> LabelMatcher:
    return LabelMatcher(name=name, op=op, value=value)


@pytest.mark.parametrize(
    ("op", "value", "labels", "expected"),
    [
        ("=", "prod", {"env": "prod"}, True),
        ("=", "prod", {"env": "dev"}, False),
        ("!=", "prod", {"env": "dev"}, True),
        ("!=", "prod", {"env": "prod"}, False),
        ("=~", "pro.*", {"env": "production"}, True),
        ("=~", "dev|prod", {"env": "prod"}, True),
        ("=~", "dev|prod", {"env": "staging"}, False),
        ("!~", "dev|prod", {"env": "staging"}, True),
        ("!~", "dev|prod", {"env": "dev"}, False),
    ],
)
def test_each_operator_matches_as_in_prometheus(
    op: MatchOp, value: str, labels: dict[str, str], expected: bool
) -> None:
    assert matcher("env", op, value).matches(labels) is expected


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("=", "", True),
        ("=", "prod", False),
        ("!=", "", False),
        ("!=", "prod", True),
        ("=~", ".*", True),
        ("=~", ".+", False),
        ("!~", ".+", True),
        ("!~", "", False),
    ],
)
def test_a_missing_label_matches_as_the_empty_string(
    op: MatchOp, value: str, expected: bool
) -> None:
    assert matcher("env", op, value).matches({"job": "api"}) is expected


@pytest.mark.parametrize("value", ["api-2", "my-api", "api\n"])
def test_regexes_are_fully_anchored(value: str) -> None:
    assert not matcher("job", "=~", "api").matches({"job": value})
    assert matcher("job", "!~", "api").matches({"job": value})


def test_anchoring_wraps_the_whole_alternation() -> None:
    regex = matcher("job", "=~", "a|b")
    assert regex.matches({"job": "a"})
    assert regex.matches({"job": "b"})
    assert not regex.matches({"job": "ab"})


def test_dot_matches_newlines_as_in_prometheus() -> None:
    assert matcher("msg", "=~", "a.b").matches({"msg": "a\nb"})


def test_an_invalid_regex_is_rejected_naming_the_value_field() -> None:
    assert_invalid(lambda: matcher("job", "=~", "api("), "value", "invalid regular expression")


def test_a_regex_that_only_compiles_when_wrapped_is_rejected() -> None:
    assert_invalid(lambda: matcher("job", "=~", "a)|(b"), "value", "invalid regular expression")


def test_an_equality_value_is_never_treated_as_a_regex() -> None:
    eq = matcher("job", "=", "api(")
    assert eq.matches({"job": "api("})
    assert not eq.matches({"job": "api"})


def test_the_regex_is_compiled_once_and_shared() -> None:
    first = matcher("job", "=~", "api-[0-9]+")
    second = matcher("job", "=~", "api-[0-9]+")
    assert first.regex is not None
    assert first.regex is second.regex
    assert first.regex is first.regex
    assert matcher("job", "=", "api").regex is None


def test_an_unknown_operator_is_rejected() -> None:
    assert_invalid(
        lambda: LabelMatcher.model_validate({"name": "a", "op": "==", "value": "b"}),
        "op",
        "'='",
    )


@pytest.mark.parametrize(("name", "reason"), [("1a", "[a-zA-Z_]"), ("__name__", "reserved")])
def test_matcher_label_names_are_validated(name: str, reason: str) -> None:
    assert_invalid(lambda: matcher(name, "=", "x"), "name", reason)


def test_matchers_are_hashable_and_compare_by_value() -> None:
    assert matcher("a", "=~", "b") == matcher("a", "=~", "b")
    assert len({matcher("a", "=~", "b"), matcher("a", "=~", "b")}) == 1


def test_braced_matchers_parse() -> None:
    assert parse_matchers('{severity="critical",job=~"api.*"}') == (
        matcher("severity", "=", "critical"),
        matcher("job", "=~", "api.*"),
    )


def test_a_single_bare_matcher_parses() -> None:
    assert parse_matchers('env!="prod"') == (matcher("env", "!=", "prod"),)


def test_bare_matchers_separated_by_commas_parse() -> None:
    assert parse_matchers('a="1", b!~"2"') == (matcher("a", "=", "1"), matcher("b", "!~", "2"))


def test_whitespace_and_a_trailing_comma_are_allowed() -> None:
    assert parse_matchers(' { a = "1" , b =~ "x" , } ') == (
        matcher("a", "=", "1"),
        matcher("b", "=~", "x"),
    )


def test_empty_braces_give_no_matchers() -> None:
    assert parse_matchers("{}") == ()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r'a="say \"hi\""', 'say "hi"'),
        (r'a="back\\slash"', "back\\slash"),
        (r'a="line\nbreak\ttab"', "line\nbreak\ttab"),
        (r'a="\x41\u00e9\U0001F600"', "A\u00e9\U0001f600"),
        (r"a='single \'quoted\''", "single 'quoted'"),
        ("a=`raw \\d+`", "raw \\d+"),
    ],
)
def test_quoted_values_unescape_as_go_strings(text: str, value: str) -> None:
    assert parse_matchers(text) == (matcher("a", "=", value),)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "expected a label name"),
        ("{", "expected a label name"),
        ('{a="1"', "expected ',' or '}'"),
        ('{a="1" b="2"}', "expected ',' or '}'"),
        ('a="1" b="2"', "expected ','"),
        ("a=prod", "expected a quoted value"),
        ('a=="x"', "expected a quoted value"),
        ('a~"x"', "expected one of"),
        ('a="unterminated', "unterminated string"),
        ("a=`raw", "unterminated raw string"),
        (r'a="\q"', "invalid escape"),
        (r'a="\x4"', "invalid escape"),
        ('{a="1"} extra', "unexpected text"),
        ('1a="x"', "expected a label name"),
    ],
)
def test_malformed_matcher_text_is_rejected_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(MatcherInvalid, match="position") as caught:
        parse_matchers(text)
    assert reason in str(caught.value)


def test_an_invalid_regex_in_text_is_rejected_naming_the_matcher() -> None:
    with pytest.raises(MatcherInvalid, match=r"invalid matcher 'job=~\"\(\"'.*value"):
        parse_matchers('{job=~"("}')


def test_a_reserved_label_name_in_text_is_rejected() -> None:
    with pytest.raises(MatcherInvalid, match="reserved"):
        parse_matchers('__name__="up"')


def test_matcher_invalid_is_a_value_error() -> None:
    assert issubclass(MatcherInvalid, ValueError)


def test_format_matchers_writes_the_prometheus_text_form() -> None:
    text = format_matchers((matcher("a", "=", 'q"\\\n'), matcher("b", "!~", "x|y")))
    assert text == '{a="q\\"\\\\\\n",b!~"x|y"}'


@no_deadline
@given(
    st.lists(
        st.builds(
            LabelMatcher,
            name=label_names,
            op=st.sampled_from(["=", "!="]),
            value=st.text(max_size=20),
        ),
        max_size=5,
    )
)
def test_formatted_matchers_parse_back_to_the_same_matchers(matchers: list[LabelMatcher]) -> None:
    assert parse_matchers(format_matchers(matchers)) == tuple(matchers)


@no_deadline
@given(name=label_names, value=label_values, labels=label_sets)
def test_equal_and_not_equal_are_complements(name: str, value: str, labels: dict[str, str]) -> None:
    assert matcher(name, "=", value).matches(labels) != matcher(name, "!=", value).matches(labels)


@no_deadline
@given(
    name=label_names,
    value=st.sampled_from(["", ".*", "a.*", "[0-9]+", "x|y", "(?i)prod"]),
    labels=label_sets,
)
def test_regex_match_and_non_match_are_complements(
    name: str, value: str, labels: dict[str, str]
) -> None:
    assert matcher(name, "=~", value).matches(labels) != matcher(name, "!~", value).matches(labels)


@no_deadline
@given(name=label_names, value=label_values, labels=label_sets)
def test_equality_agrees_with_a_regex_of_the_escaped_value(
    name: str, value: str, labels: dict[str, str]
) -> None:
    import re

    assert matcher(name, "=", value).matches(labels) == matcher(
        name, "=~", re.escape(value)
    ).matches(labels)


class HasMatchers(BaseModel):
    matchers: Matchers = ()


def test_matchers_fields_accept_one_string() -> None:
    model = HasMatchers.model_validate({"matchers": '{env="prod",job=~"api"}'})
    assert model.matchers == (matcher("env", "=", "prod"), matcher("job", "=~", "api"))


def test_matchers_fields_accept_a_list_of_strings_as_alertmanager() -> None:
    model = HasMatchers.model_validate(
        {"matchers": ['env="prod"', {"name": "a", "op": "=", "value": "b"}]}
    )
    assert model.matchers == (matcher("env", "=", "prod"), matcher("a", "=", "b"))


def test_a_list_item_with_two_matchers_is_rejected() -> None:
    assert_invalid(
        lambda: HasMatchers.model_validate({"matchers": ['a="1",b="2"']}),
        "matchers",
        "exactly one matcher",
    )


def test_a_selector_matches_its_metric_and_every_matcher() -> None:
    selector = Selector(metric="cpu", matchers=(matcher("env", "=", "prod"),))
    hit = MetricSample(name="cpu", value=1, labels={"env": "prod"}, timestamp=1)
    wrong_metric = MetricSample(name="mem", value=1, labels={"env": "prod"}, timestamp=1)
    wrong_label = MetricSample(name="cpu", value=1, labels={"env": "dev"}, timestamp=1)
    assert selector.matches(hit)
    assert not selector.matches(wrong_metric)
    assert not selector.matches(wrong_label)
    assert selector.matches_labels({"env": "prod"})


def test_a_selector_without_matchers_selects_every_series_of_its_metric() -> None:
    selector = Selector(metric="cpu")
    assert selector.matches(MetricSample(name="cpu", value=1, labels={"a": "b"}, timestamp=1))


def test_a_selector_parses_from_text_and_prints_back() -> None:
    selector = parse_selector('cpu_usage{env="prod", host=~"web-.*"}')
    assert selector == Selector(
        metric="cpu_usage",
        matchers=(matcher("env", "=", "prod"), matcher("host", "=~", "web-.*")),
    )
    assert str(selector) == 'cpu_usage{env="prod",host=~"web-.*"}'
    assert parse_selector(str(selector)) == selector


def test_a_bare_metric_name_is_a_selector() -> None:
    assert parse_selector(" up ") == Selector(metric="up")
    assert str(Selector(metric="up")) == "up"


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "expected a metric name"), ("cpu env", "expected '{'"), ("cpu{", "label name")],
)
def test_malformed_selector_text_is_rejected(text: str, reason: str) -> None:
    with pytest.raises(MatcherInvalid, match=reason):
        parse_selector(text)


def test_an_invalid_metric_name_is_rejected_by_the_selector() -> None:
    assert_invalid(lambda: Selector(metric="cpu-usage"), "metric", "[a-zA-Z_:]")


class HasSelector(BaseModel):
    selector: SelectorInput


def test_selector_inputs_accept_text_and_objects() -> None:
    from_text = HasSelector.model_validate({"selector": 'up{job="node"}'}).selector
    from_object = HasSelector.model_validate(
        {"selector": {"metric": "up", "matchers": [{"name": "job", "op": "=", "value": "node"}]}}
    ).selector
    assert from_text == from_object


def test_bad_selector_text_is_a_validation_error_on_the_field() -> None:
    with pytest.raises(ValidationError, match="selector"):
        HasSelector.model_validate({"selector": "up{job=}"})
