"""Metric samples, the input of every rule, and the batches they travel in.

Two forms of a batch.  ``SampleBatch`` holds ``MetricSample`` models: the form for
Python callers.  ``parse_sample_batch(data)`` validates the same JSON document (same
rules, same errors, same locations) into ``SampleRows``: each sample a plain dict
(``SampleRow``) instead of a model.  That is the form for untrusted bytes on the hot
path: a model is three objects for the cyclic garbage collector (the instance, its
``__dict__`` and its set of fields), a row one, and a batch waiting in a mailbox lives
long enough for those objects to reach the collector's old generation, whose full
collections cost in proportion to what was promoted (measured on bench/evaluation.py:
the collector took about half of the CPU from JSON batches of models).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypedDict

from pydantic import Field
from pydantic_core import CoreConfig, CoreSchema, SchemaValidator
from pydantic_core import core_schema as cs

from messages._base import FiniteFloat, Labels, Message, MetricName, Timestamp

__all__ = [
    "MAX_BATCH_SIZE",
    "MetricSample",
    "SampleBatch",
    "SampleRow",
    "SampleRows",
    "parse_sample_batch",
    "to_sample",
]

MAX_BATCH_SIZE = 10_000


class MetricSample(Message):
    """One observation of one series: a metric name, a label set, a value and a time.

    ``name`` follows Prometheus metric-name rules; ``labels`` must not contain the
    metric name (there is no ``__name__``: names starting with ``__`` are reserved);
    ``value`` must be finite (NaN and infinities are rejected: Tocsin has no staleness
    markers); ``timestamp`` is float seconds since the Unix epoch.
    """

    type: Literal["sample"] = "sample"
    name: MetricName
    value: FiniteFloat
    labels: Labels = Field(default_factory=dict)
    timestamp: Timestamp


class SampleBatch(Message):
    """Carry 1 to 10 000 samples: the normal unit of ingestion on the hot path.

    Validate untrusted bytes with ``SampleBatch.model_validate_json(data)``; the whole
    batch is rejected if any sample is invalid, and the error's location names the
    sample's index and field (``samples.3.value``).
    """

    type: Literal["samples"] = "samples"
    samples: Annotated[tuple[MetricSample, ...], Field(min_length=1, max_length=MAX_BATCH_SIZE)]


class SampleRow(TypedDict):
    """One validated sample as a plain dict: ``MetricSample``'s fields, same checks.

    Every field is present (``type`` "sample", ``labels`` ``{}`` when the input had
    none), as in the model.  Treat it as read-only.
    """

    type: Literal["sample"]
    name: str
    value: float
    labels: dict[str, str]
    timestamp: float


def plain_dict_schema(model: type[Message], **replaced: CoreSchema) -> CoreSchema:
    """Return ``model``'s validation schema producing a dict: each field's own schema.

    The field schemas are the model's (``replaced`` swaps some), so a row is checked
    exactly as a model is, with the same error locations and messages.
    """
    schema: Any = model.__pydantic_core_schema__
    if schema["type"] != "model" or schema["schema"]["type"] != "model-fields":
        raise TypeError(f"{model.__name__} has no plain model schema")
    fields = {
        name: cs.typed_dict_field(
            replaced.get(name, field["schema"]),
            required=field["schema"]["type"] != "default",
        )
        for name, field in schema["schema"]["fields"].items()
    }
    return cs.typed_dict_schema(fields, extra_behavior="forbid")


def rows_schema(model: type[Message]) -> CoreSchema:
    """Return the schema of ``model``'s ``samples`` field, validating into ``SampleRow``s."""
    schema: Any = model.__pydantic_core_schema__
    samples = schema["schema"]["fields"]["samples"]["schema"]
    if samples["type"] != "tuple":
        raise TypeError(f"{model.__name__}.samples is not a tuple of samples")
    rows: CoreSchema = {**samples, "items_schema": [plain_dict_schema(MetricSample)]}
    return rows


def _rows_validator() -> SchemaValidator:
    # Titled as the model, so that errors read the same ("... for SampleBatch").
    return SchemaValidator(
        plain_dict_schema(SampleBatch, samples=rows_schema(SampleBatch)),
        CoreConfig(title="SampleBatch"),
    )


_DOCUMENT = _rows_validator()


@dataclass(frozen=True, slots=True)
class SampleRows:
    """A validated batch of 1 to 10 000 samples as ``SampleRow`` dicts, in order.

    What ``parse_sample_batch`` returns; the metric router takes it as it takes a
    ``SampleBatch``.  Build one only from validated rows.
    """

    rows: tuple[SampleRow, ...]

    def to_batch(self) -> SampleBatch:
        """Return the same samples as a ``SampleBatch`` (already validated: not again)."""
        return SampleBatch.model_construct(samples=tuple(to_sample(row) for row in self.rows))


def to_sample(row: SampleRow) -> MetricSample:
    """Return the ``MetricSample`` of a validated ``row`` (without validating it again)."""
    return MetricSample.model_construct(
        name=row["name"], value=row["value"], labels=row["labels"], timestamp=row["timestamp"]
    )


def parse_sample_batch(data: str | bytes | bytearray) -> SampleRows:
    """Validate a ``SampleBatch`` JSON document; return its samples as ``SampleRows``.

    Accepts and rejects exactly what ``SampleBatch.model_validate_json`` does, with
    the same ``pydantic.ValidationError`` locations (``samples.3.value``) and messages
    (one error type differs: a sample that is not an object is ``dict_type`` here,
    ``model_type`` there).
    """
    document: Any = _DOCUMENT.validate_json(data)
    return SampleRows(document["samples"])
