"""Metric samples, the input of every rule, and the batches they travel in."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from messages._base import FiniteFloat, Labels, Message, MetricName, Timestamp

__all__ = ["MAX_BATCH_SIZE", "MetricSample", "SampleBatch"]

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
