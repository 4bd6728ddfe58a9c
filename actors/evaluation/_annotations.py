"""Annotation templates: Jinja2 in a sandbox, compiled once per rule, never raising.

Annotations (``summary``, ``description``, ...) are Jinja2 templates rendered when an
alert fires, with this context:

- ``labels``: the alert's labels (series labels, then the rule's, ``alertname``);
- ``value``: the value that fired (None for a no-data alert that never saw one);
- ``rule_id``, ``severity`` (``"warning"``...), ``no_data`` (True for a no-data alert).

Templates run in Jinja2's ``SandboxedEnvironment`` (no access to private attributes or
unsafe callables), with repetition and power operators bounded and the output capped at
``MAX_ANNOTATION_LENGTH`` characters.  A template that does not compile or fails to
render never raises: the annotation falls back to the raw template text and the error
is returned, for the evaluation to report as a ``RuleError``.  ``check_templates``
rejects a rule whose templates do not compile before it is ever run.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from messages import RuleInvalid

__all__ = ["MAX_ANNOTATION_LENGTH", "AnnotationTemplates", "check_templates"]

MAX_ANNOTATION_LENGTH = 4096
"""Rendered annotations longer than this are cut (an alert is not a document)."""

# Bounds on the operators that can build huge values from a short template.
_MAX_REPEATED_LENGTH = 100_000
_MAX_POWER_BITS = 4096


class _BoundedSandbox(SandboxedEnvironment):
    """The stock sandbox, with ``*`` and ``**`` refusing results that would be huge."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "*":
            for sequence, count in ((left, right), (right, left)):
                if (
                    isinstance(sequence, str | bytes | list | tuple)
                    and isinstance(count, int)
                    and len(sequence) * count > _MAX_REPEATED_LENGTH
                ):
                    raise SecurityError(
                        f"repetition would build more than {_MAX_REPEATED_LENGTH} items"
                    )
            return operator.mul(left, right)
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and abs(right) * max(1, left.bit_length()) > _MAX_POWER_BITS
        ):
            raise SecurityError(f"power would exceed {_MAX_POWER_BITS} bits")
        return operator.pow(left, right)


# One environment for every rule: building one is costly, and templates share nothing
# mutable through it.
_ENVIRONMENT = _BoundedSandbox(autoescape=False, keep_trailing_newline=False)


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class AnnotationTemplates:
    """A rule's annotation templates, compiled once; ``render`` never raises.

    Templates that fail to compile are kept as errors and render as their raw text.
    """

    __slots__ = ("_compiled", "_failed", "_sources")

    def __init__(self, templates: Mapping[str, str]) -> None:
        self._sources = dict(templates)
        self._compiled: dict[str, jinja2.Template] = {}
        self._failed: dict[str, str] = {}
        for name, source in templates.items():
            try:
                self._compiled[name] = _ENVIRONMENT.from_string(source)
            except Exception as error:
                self._failed[name] = _describe(error)

    def __bool__(self) -> bool:
        return bool(self._sources)

    def render(self, context: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
        """Return ``(annotations, errors)``: every annotation rendered, or its raw text.

        ``errors`` names each annotation that fell back and why; empty when all went
        well.
        """
        annotations: dict[str, str] = {}
        errors: list[str] = []
        for name, source in self._sources.items():
            template = self._compiled.get(name)
            if template is None:
                annotations[name] = source
                errors.append(f"annotation {name!r} does not compile: {self._failed[name]}")
                continue
            try:
                annotations[name] = _bounded(template, context)
            except Exception as error:
                annotations[name] = source
                errors.append(f"annotation {name!r} failed to render: {_describe(error)}")
        return annotations, errors


def _bounded(template: jinja2.Template, context: Mapping[str, Any]) -> str:
    # Render chunk by chunk and stop at the cap, so a template cannot build a huge text.
    parts: list[str] = []
    length = 0
    for chunk in template.generate(context):
        parts.append(chunk)
        length += len(chunk)
        if length > MAX_ANNOTATION_LENGTH:
            return "".join(parts)[: MAX_ANNOTATION_LENGTH - 1] + "…"
    return "".join(parts)


def check_templates(rule_id: str, templates: Mapping[str, str]) -> None:
    """Raise ``RuleInvalid`` naming the first annotation of ``rule_id`` that does not compile.

    Run it before a rule is accepted, so that a typo is a clear error for whoever
    submitted the rule rather than a ``RuleError`` every time the alert fires.
    """
    for name, source in templates.items():
        try:
            _ENVIRONMENT.from_string(source)
        except Exception as error:
            reason = f"template does not compile: {_describe(error)}"
            raise RuleInvalid(
                f"invalid rule {rule_id!r}: annotations.{name}: {reason}",
                rule_id=rule_id,
                field=f"annotations.{name}",
                reason=reason,
            ) from error
