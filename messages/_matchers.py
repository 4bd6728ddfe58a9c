"""Label matchers and series selectors, with Prometheus semantics and text syntax."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Literal

from pydantic import BeforeValidator, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails

from messages._base import LabelName, Message, MetricName, describe_error
from messages._samples import MetricSample

__all__ = [
    "LabelMatcher",
    "MatchOp",
    "MatcherInvalid",
    "Matchers",
    "Selector",
    "SelectorInput",
    "format_matchers",
    "parse_matchers",
    "parse_selector",
]

MatchOp = Literal["=", "!=", "=~", "!~"]
"""Label matching operators: equal, not equal, regex match, regex non-match."""

_REGEX_OPS = frozenset({"=~", "!~"})
# Longest first, so "=~" is not read as "=" followed by a value starting with "~".
_OPS: tuple[MatchOp, ...] = ("=~", "!~", "!=", "=")
_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_METRIC_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
}
_HEX_ESCAPE_DIGITS = {"x": 2, "u": 4, "U": 8}


class MatcherInvalid(ValueError):
    """Raised when matcher or selector text does not parse; the message says where."""


@functools.lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str]:
    # As Prometheus (labels.NewFastRegexMatcher): the pattern must compile on its own,
    # is anchored at both ends (we use fullmatch, which unlike "$" does not accept a
    # trailing newline), and "." matches newlines (syntax.DotNL).
    return re.compile(pattern, re.DOTALL)


class LabelMatcher(Message):
    """Match one label of a label set: ``name op "value"``.

    Semantics are Prometheus': a label missing from the set matches as the empty
    string (so ``env=""`` selects series without ``env``), and regexes are fully
    anchored (``job=~"api"`` does not match ``api-2``).  Regexes use Python's ``re``
    syntax, which agrees with RE2 on everything but exotic constructs; they are
    compiled once, when the matcher is validated, and an invalid one is rejected
    with an error on ``value``.
    """

    type: Literal["matcher"] = "matcher"
    name: LabelName
    op: MatchOp
    value: str

    @field_validator("value")
    @classmethod
    def _regex_compiles(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("op") in _REGEX_OPS:
            try:
                _compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value

    @property
    def regex(self) -> re.Pattern[str] | None:
        """Return the compiled regex of ``=~`` and ``!~`` (use ``fullmatch``), else None.

        Each pattern is compiled once, by validation, and shared by equal matchers.
        """
        # Looked up in the compile cache rather than kept on the instance: pydantic's
        # private attributes cost microseconds to read, and an instance cache would go
        # stale under model_copy(update=...).
        return _compile(self.value) if self.op in _REGEX_OPS else None

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Return whether ``labels`` satisfies this matcher (missing label == "")."""
        value = labels.get(self.name, "")
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        regex = self.regex
        matched = regex is not None and regex.fullmatch(value) is not None
        return matched if self.op == "=~" else not matched

    def __str__(self) -> str:
        return f"{self.name}{self.op}{_quote(self.value)}"


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def format_matchers(matchers: Sequence[LabelMatcher]) -> str:
    """Return the Prometheus text form ``{a="b",c=~"d"}``; ``parse_matchers`` reads it."""
    return "{" + ",".join(str(m) for m in matchers) + "}"


class _Scanner:
    """Recursive-descent reader of the Prometheus matcher syntax."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, reason: str) -> MatcherInvalid:
        return MatcherInvalid(f"{reason} at position {self.pos} in {self.text!r}")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self, token: str) -> bool:
        return self.text.startswith(token, self.pos)

    def take(self, token: str) -> bool:
        if self.peek(token):
            self.pos += len(token)
            return True
        return False

    def word(self, pattern: re.Pattern[str], what: str) -> str:
        match = pattern.match(self.text, self.pos)
        if match is None:
            raise self.fail(f"expected {what}")
        self.pos = match.end()
        return match.group()

    def matcher(self) -> LabelMatcher:
        self.skip_space()
        start = self.pos
        name = self.word(_NAME_RE, "a label name")
        self.skip_space()
        op = next((candidate for candidate in _OPS if self.take(candidate)), None)
        if op is None:
            raise self.fail("expected one of = != =~ !~")
        self.skip_space()
        value = self.string()
        try:
            return LabelMatcher(name=name, op=op, value=value)
        except ValidationError as exc:
            reasons = "; ".join(_reason(error) for error in exc.errors())
            raise MatcherInvalid(
                f"invalid matcher {self.text[start : self.pos]!r}: {reasons}"
            ) from None

    def string(self) -> str:
        if self.at_end() or self.text[self.pos] not in "\"'`":
            raise self.fail("expected a quoted value")
        quote = self.text[self.pos]
        self.pos += 1
        if quote == "`":
            end = self.text.find("`", self.pos)
            if end < 0:
                raise self.fail("unterminated raw string")
            value = self.text[self.pos : end]
            self.pos = end + 1
            return value
        chars: list[str] = []
        while not self.at_end():
            char = self.text[self.pos]
            self.pos += 1
            if char == quote:
                return "".join(chars)
            chars.append(self.escape() if char == "\\" else char)
        raise self.fail("unterminated string")

    def escape(self) -> str:
        if self.at_end():
            raise self.fail("unterminated escape")
        char = self.text[self.pos]
        self.pos += 1
        if char in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[char]
        width = _HEX_ESCAPE_DIGITS.get(char)
        digits = self.text[self.pos : self.pos + width] if width else ""
        if width is None or len(digits) != width or not _is_hex(digits):
            raise self.fail(f"invalid escape \\{char}")
        self.pos += width
        code = int(digits, 16)
        if code > 0x10FFFF:
            raise self.fail(f"escape \\{char}{digits} is not a code point")
        return chr(code)

    def matcher_list(self) -> tuple[LabelMatcher, ...]:
        self.skip_space()
        braced = self.take("{")
        matchers: list[LabelMatcher] = []
        while True:
            self.skip_space()
            if braced and self.take("}"):
                break
            if not braced and self.at_end() and matchers:
                break
            matchers.append(self.matcher())
            self.skip_space()
            if self.take(","):
                continue
            if braced:
                if not self.take("}"):
                    raise self.fail("expected ',' or '}'")
                break
            if not self.at_end():
                raise self.fail("expected ','")
        self.skip_space()
        if not self.at_end():
            raise self.fail("unexpected text after the matchers")
        return tuple(matchers)


def _is_hex(digits: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in digits)


def _reason(error: ErrorDetails) -> str:
    field, reason = describe_error(error)
    return f"{field}: {reason}" if field else reason


def parse_matchers(text: str) -> tuple[LabelMatcher, ...]:
    """Parse matchers in Prometheus text form: ``{a="b",c=~"d"}`` or bare ``a!="b"``.

    Values are quoted with ``"``, ``'`` (Go escapes: ``\\"``, ``\\\\``, ``\\n``, ...)
    or backticks (raw).  ``{}`` gives an empty tuple.  Raises ``MatcherInvalid``
    naming the position of a syntax error, or the matcher and reason of an invalid
    one (bad regex, reserved label name).
    """
    return _Scanner(text).matcher_list()


def parse_selector(text: str) -> Selector:
    """Parse ``metric_name{matchers}`` (matchers optional) into a ``Selector``.

    Raises ``MatcherInvalid`` as ``parse_matchers`` does.
    """
    scanner = _Scanner(text)
    scanner.skip_space()
    metric = scanner.word(_METRIC_RE, "a metric name")
    scanner.skip_space()
    if scanner.at_end():
        return Selector(metric=metric)
    if not scanner.peek("{"):
        raise scanner.fail("expected '{' after the metric name")
    return Selector(metric=metric, matchers=_Scanner(text[scanner.pos :]).matcher_list())


def _matchers_from_text(value: object) -> object:
    if isinstance(value, str):
        return parse_matchers(value)
    if isinstance(value, list | tuple):
        return tuple(_single_matcher(item) if isinstance(item, str) else item for item in value)
    return value


def _single_matcher(text: str) -> LabelMatcher:
    matchers = parse_matchers(text)
    if len(matchers) != 1:
        raise MatcherInvalid(f"expected exactly one matcher in {text!r}, got {len(matchers)}")
    return matchers[0]


Matchers = Annotated[
    tuple[LabelMatcher, ...],
    BeforeValidator(_matchers_from_text, json_schema_input_type=str | list[str | LabelMatcher]),
]
"""A tuple of matchers that also accepts the text forms on input.

Accepted: a list of matcher objects, a list of single-matcher strings
(``['env="prod"', 'job=~"api.*"']``, as Alertmanager), or one string
(``'{env="prod",job=~"api.*"}'``).
"""


class Selector(Message):
    """Select the series of one metric whose labels satisfy every matcher.

    On input where a ``SelectorInput`` is expected (rules), the text form
    ``'metric{a="b"}'`` is accepted as well as the object form.
    """

    type: Literal["selector"] = "selector"
    metric: MetricName
    matchers: Matchers = ()

    def matches(self, sample: MetricSample) -> bool:
        """Return whether ``sample`` belongs to a series this selector selects."""
        return sample.name == self.metric and self.matches_labels(sample.labels)

    def matches_labels(self, labels: Mapping[str, str]) -> bool:
        """Return whether ``labels`` satisfies every matcher (metric not checked)."""
        return all(matcher.matches(labels) for matcher in self.matchers)

    def __str__(self) -> str:
        return self.metric + (format_matchers(self.matchers) if self.matchers else "")


def _selector_from_text(value: object) -> object:
    return parse_selector(value) if isinstance(value, str) else value


SelectorInput = Annotated[
    Selector, BeforeValidator(_selector_from_text, json_schema_input_type=str | Selector)
]
"""A ``Selector`` that also accepts its text form ``'metric{a="b"}'`` on input."""
