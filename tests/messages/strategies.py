"""Hypothesis strategies for valid messages."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st

from messages import MetricSample

label_names = st.from_regex(r"\A(?:[a-zA-Z][a-zA-Z0-9_]{0,12}|_[a-zA-Z0-9][a-zA-Z0-9_]{0,8})\Z")
metric_names = st.from_regex(r"\A[a-zA-Z_:][a-zA-Z0-9_:]{0,20}\Z")
label_values = st.text(max_size=20)
label_sets = st.dictionaries(label_names, label_values, max_size=6)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
timestamps = st.floats(min_value=1e-3, max_value=9.9e10, allow_nan=False)

# Property tests check results, not speed: a per-example deadline only makes them flaky
# on a busy machine.
no_deadline = settings(deadline=None)


@st.composite
def metric_samples(draw: st.DrawFn) -> MetricSample:
    """Draw a valid ``MetricSample``."""
    return MetricSample(
        name=draw(metric_names),
        value=draw(finite_floats),
        labels=draw(label_sets),
        timestamp=draw(timestamps),
    )
