"""Samples as the hot path carries them: series keys and flat entries.

The router turns each sample into a ``SampleEntry`` once (its series key, timestamp,
value and the sample itself) and every evaluator it feeds reads those plain items.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actors.evaluation._series import SeriesKey
from messages import MetricSample, SampleRow


def series_key(labels: Mapping[str, str]) -> SeriesKey:
    """Return the identity of the series with ``labels`` (within one metric)."""
    return frozenset(labels.items())


SampleEntry = tuple[SeriesKey, float, float, MetricSample]
"""A sample as the hot path carries it: ``(series key, timestamp, value, sample)``.

Reading a field of a Pydantic model costs several times a tuple item (its class has a
``__getattr__``, which CPython cannot specialise), so the router reads each sample's
fields once and every evaluator it feeds gets them as plain items.
"""

SampleEntries = list[Any]
"""Samples as the hot path carries them: ``SampleEntry`` items laid flat in one list.

Four items per sample (series key, timestamp, value, sample), in order; the sample is
a ``MetricSample`` or, from ``SampleRows``, a ``SampleRow`` dict.  Flat rather
than a tuple per sample: a tuple per sample lives in an evaluator's message until the
evaluator runs, long enough for the cyclic garbage collector to promote it to its old
generation, and every object promoted there adds to the cost of the next full
collection (measured on bench/evaluation.py: about 2 µs of collector CPU per object
per sample).  A flat list is one object however many samples it holds.
"""


def labels_of(sample: MetricSample | SampleRow) -> Mapping[str, str]:
    """Return the labels of a ``SampleEntry``'s sample (a model or a ``SampleRow`` dict)."""
    return sample["labels"] if isinstance(sample, dict) else sample.labels


def sample_entry(sample: MetricSample, key: SeriesKey | None = None) -> SampleEntry:
    """Return the ``SampleEntry`` of ``sample`` (its ``series_key`` unless ``key`` is given)."""
    return (
        series_key(sample.labels) if key is None else key,
        sample.timestamp,
        sample.value,
        sample,
    )
