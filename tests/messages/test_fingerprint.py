from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messages import fingerprint
from tests.messages.strategies import label_sets, no_deadline

# Test vectors from prometheus/common model/signature_test.go (TestMetricToFingerprint
# and the BenchmarkMetricToFingerprint* expectations), which Alertmanager's
# LabelSet.Fingerprint() shares.  Decimal there; %016x here.
PROMETHEUS_VECTORS = [
    ({}, 14695981039346656037),
    ({"name": "garland, briggs", "fear": "love is not enough"}, 5799056148416392346),
    ({"first-label": "first-label-value"}, 5146282821936882169),
    (
        {"first-label": "first-label-value", "second-label": "second-label-value"},
        3195800080984914717,
    ),
    (
        {
            "first-label": "first-label-value",
            "second-label": "second-label-value",
            "third-label": "third-label-value",
        },
        13843036195897128121,
    ),
]


@pytest.mark.parametrize(("labels", "expected"), PROMETHEUS_VECTORS)
def test_fingerprints_equal_prometheus_test_vectors(labels: dict[str, str], expected: int) -> None:
    assert fingerprint(labels) == f"{expected:016x}"


def test_the_empty_label_set_has_the_fnv_offset_basis() -> None:
    assert fingerprint({}) == "cbf29ce484222325"


def test_a_fingerprint_is_sixteen_lowercase_hex_digits() -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", fingerprint({"alertname": "x", "env": "prod"}))


def test_the_separator_keeps_name_and_value_boundaries_apart() -> None:
    assert fingerprint({"a": "bc"}) != fingerprint({"ab": "c"})
    assert fingerprint({"a": "b", "c": "d"}) != fingerprint({"a": "b\xffc", "": "d"})


def test_an_empty_value_is_not_the_same_as_a_missing_label() -> None:
    assert fingerprint({"a": ""}) != fingerprint({})


def test_non_ascii_values_are_hashed_as_utf8() -> None:
    assert fingerprint({"city": "Zürich"}) != fingerprint({"city": "Zurich"})


@no_deadline
@given(st.data())
def test_fingerprints_do_not_depend_on_mapping_order(data: st.DataObject) -> None:
    labels = data.draw(label_sets)
    order = data.draw(st.permutations(list(labels)))
    reordered = {name: labels[name] for name in order}
    assert fingerprint(reordered) == fingerprint(labels)


@no_deadline
@given(label_sets, label_sets)
def test_distinct_random_label_sets_get_distinct_fingerprints(
    first: dict[str, str], second: dict[str, str]
) -> None:
    if first != second:
        assert fingerprint(first) != fingerprint(second)


def test_a_lone_surrogate_hashes_instead_of_raising() -> None:
    assert fingerprint({"a": "\ud800"}) != fingerprint({"a": ""})
