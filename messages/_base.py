"""The frozen base model and the field types that every message shares.

Name and timestamp checks are pydantic-core schemas (Rust regexes and float bounds) with
custom error messages rather than Python validators: a sample batch is validated on the
hot path, and a Python call per label set costs more than the rest of the sample.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, GetPydanticSchema
from pydantic_core import CoreSchema, ErrorDetails
from pydantic_core import core_schema as cs

__all__ = [
    "LABEL_NAME_PATTERN",
    "METRIC_NAME_PATTERN",
    "Fingerprint",
    "FiniteFloat",
    "LabelName",
    "Labels",
    "Message",
    "MetricName",
    "NonEmptyStr",
    "PositiveSeconds",
    "RuleId",
    "Seconds",
    "Timestamp",
    "describe_error",
]

METRIC_NAME_PATTERN = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"
LABEL_NAME_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
# The label-name check as one pattern, for validation: a valid name that does not start
# with "__".  The regex crate behind pydantic-core has no look-ahead, so "does not start
# with __" is spelled out: a letter, or "_" followed by a letter or digit, or "_" alone.
# One pattern rather than a chain of two checks: label names are validated for every
# sample of every batch, and the chain cost a quarter of a sample's validation.
_LABEL_NAME_NOT_RESERVED_PATTERN = r"^(?:[a-zA-Z]|_[a-zA-Z0-9]|_$)[a-zA-Z0-9_]*$"
# 1e11 seconds is the year 5138: anything larger is almost surely milliseconds.
_MAX_TIMESTAMP = 1e11


class Message(BaseModel):
    """Derive every Tocsin message from this: frozen, and unknown fields are rejected.

    Fields whose Python name differs from the wire name (``for_`` / ``"for"``) accept
    both on input and serialise under the wire name.  Dict-valued fields (labels,
    annotations) are plain dicts for speed: treat them as read-only, and note that a
    model holding one is not hashable.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


def _metric_name_schema(_source: Any, _handler: Any) -> CoreSchema:
    return cs.custom_error_schema(
        cs.str_schema(pattern=METRIC_NAME_PATTERN),
        custom_error_type="metric_name",
        custom_error_message="metric names must be strings matching [a-zA-Z_:][a-zA-Z0-9_:]*",
    )


def _label_name_schema(_source: Any, _handler: Any) -> CoreSchema:
    return cs.custom_error_schema(
        cs.str_schema(pattern=_LABEL_NAME_NOT_RESERVED_PATTERN),
        custom_error_type="label_name",
        custom_error_message=(
            "label names must be strings matching [a-zA-Z_][a-zA-Z0-9_]*;"
            " names starting with '__' are reserved"
        ),
    )


def _timestamp_schema(_source: Any, _handler: Any) -> CoreSchema:
    return cs.custom_error_schema(
        cs.float_schema(gt=0, lt=_MAX_TIMESTAMP, allow_inf_nan=False),
        custom_error_type="timestamp",
        custom_error_message=(
            "timestamps must be finite seconds since the Unix epoch, > 0 and < 1e11 "
            "(milliseconds are not accepted)"
        ),
    )


MetricName = Annotated[str, GetPydanticSchema(_metric_name_schema)]
"""A Prometheus metric name: ``[a-zA-Z_:][a-zA-Z0-9_:]*``."""

LabelName = Annotated[str, GetPydanticSchema(_label_name_schema)]
"""A Prometheus label name, ``[a-zA-Z_][a-zA-Z0-9_]*``, not starting with ``__``."""

Labels = dict[LabelName, str]
"""A label set: valid label names to arbitrary string values."""

Timestamp = Annotated[float, GetPydanticSchema(_timestamp_schema)]
"""Seconds since the Unix epoch, finite and > 0."""

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
"""A float that is neither NaN nor infinite."""

Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
"""A duration in seconds, >= 0."""

PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
"""A duration in seconds, > 0."""

RuleId = Annotated[str, Field(pattern=r"^[a-zA-Z0-9_.:-]+$", max_length=200)]
"""A rule id: a slug of letters, digits and ``_ . : -``."""

Fingerprint = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
"""An alert fingerprint: 16 lowercase hex digits (see ``fingerprint``)."""

NonEmptyStr = Annotated[str, Field(min_length=1)]
"""A string with at least one character."""


def describe_error(error: ErrorDetails, *, skip: int = 0) -> tuple[str, str]:
    """Return ``(field path, reason)`` for one entry of ``ValidationError.errors()``.

    The path is dotted with list indices in brackets (``conditions[1].threshold``);
    ``skip`` drops leading location parts (a discriminated union's tag).  The reason
    of a validator's ``ValueError`` is its own text, without pydantic's prefix.
    """
    field = ""
    for part in tuple(error["loc"])[skip:]:
        if isinstance(part, int):
            field += f"[{part}]"
        else:
            field += f".{part}" if field else str(part)
    ctx = error.get("ctx") or {}
    reason = str(ctx["error"]) if error["type"] == "value_error" else str(error["msg"])
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        # The tag itself is what is wrong: name it, not the union that holds it.
        field = f"{field}.type" if field else "type"
    if error["type"] == "union_tag_not_found":
        reason = "Field required: it says which kind of message this is"
    return field, reason
