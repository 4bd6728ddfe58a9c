from __future__ import annotations

import json
import math
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from messages import MAX_BATCH_SIZE, MetricSample, SampleBatch
from tests.messages.invalid import assert_invalid
from tests.messages.strategies import metric_samples, no_deadline


def sample_data(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "http_requests_total",
        "value": 3.5,
        "labels": {"job": "api", "instance": "host-1:9100"},
        "timestamp": 1_700_000_000.0,
    }
    data.update(changes)
    return data


def test_a_valid_sample_keeps_its_fields_and_gets_its_type() -> None:
    sample = MetricSample.model_validate(sample_data())
    assert sample.type == "sample"
    assert sample.name == "http_requests_total"
    assert sample.value == 3.5
    assert sample.labels == {"job": "api", "instance": "host-1:9100"}
    assert sample.timestamp == 1_700_000_000.0


def test_labels_default_to_an_empty_set() -> None:
    assert MetricSample(name="up", value=1, timestamp=1).labels == {}


@pytest.mark.parametrize("name", ["up", "_private", "node:cpu:rate5m", "a1_b2", "A"])
def test_metric_names_follow_prometheus_rules(name: str) -> None:
    assert MetricSample.model_validate(sample_data(name=name)).name == name


@pytest.mark.parametrize("name", ["", "1abc", "http-requests", "cpu usage", "é", "a.b"])
def test_invalid_metric_names_are_rejected_naming_the_rule(name: str) -> None:
    assert_invalid(
        lambda: MetricSample.model_validate(sample_data(name=name)),
        "name",
        "[a-zA-Z_:][a-zA-Z0-9_:]*",
    )


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_rejected(value: float) -> None:
    assert_invalid(
        lambda: MetricSample.model_validate(sample_data(value=value)), "value", "finite number"
    )


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_non_finite_values_are_rejected_in_json_too(token: bytes) -> None:
    raw = b'{"name": "up", "value": ' + token + b', "timestamp": 1}'
    assert_invalid(lambda: MetricSample.model_validate_json(raw), "value", "finite number")


@pytest.mark.parametrize("name", ["job", "_hidden", "_", "a_1", "Z"])
def test_valid_label_names_are_accepted(name: str) -> None:
    assert name in MetricSample.model_validate(sample_data(labels={name: "x"})).labels


@pytest.mark.parametrize("name", ["1job", "job-name", "job.name", "", "jöb"])
def test_invalid_label_names_are_rejected_naming_the_label(name: str) -> None:
    assert_invalid(
        lambda: MetricSample.model_validate(sample_data(labels={name: "x"})),
        f"labels.{name}.[key]",
        "[a-zA-Z_][a-zA-Z0-9_]*",
    )


@pytest.mark.parametrize("name", ["__name__", "__meta", "__"])
def test_label_names_starting_with_two_underscores_are_reserved(name: str) -> None:
    assert_invalid(
        lambda: MetricSample.model_validate(sample_data(labels={name: "x"})),
        f"labels.{name}.[key]",
        "reserved",
    )


def test_label_values_must_be_strings() -> None:
    assert_invalid(
        lambda: MetricSample.model_validate(sample_data(labels={"code": 200})),
        "labels.code",
        "valid string",
    )


@pytest.mark.parametrize("timestamp", [0, -1.0, math.nan, math.inf, 1_700_000_000_000.0])
def test_timestamps_must_be_positive_finite_seconds(timestamp: float) -> None:
    assert_invalid(
        lambda: MetricSample.model_validate(sample_data(timestamp=timestamp)),
        "timestamp",
        "seconds since the Unix epoch",
    )


def test_unknown_fields_are_rejected() -> None:
    assert_invalid(
        lambda: MetricSample.model_validate(sample_data(unit="s")), "unit", "Extra inputs"
    )


def test_samples_are_frozen() -> None:
    sample = MetricSample.model_validate(sample_data())
    with pytest.raises(ValidationError, match="frozen"):
        sample.value = 4.0


def test_a_batch_holds_its_samples_in_order() -> None:
    batch = SampleBatch(
        samples=(
            MetricSample.model_validate(sample_data(value=1)),
            MetricSample.model_validate(sample_data(value=2)),
        )
    )
    assert batch.type == "samples"
    assert [s.value for s in batch.samples] == [1.0, 2.0]


def test_an_empty_batch_is_rejected() -> None:
    assert_invalid(lambda: SampleBatch(samples=()), "samples", "at least 1 item")


def test_a_batch_over_the_limit_is_rejected() -> None:
    one = sample_data()
    assert_invalid(
        lambda: SampleBatch.model_validate({"samples": [one] * (MAX_BATCH_SIZE + 1)}),
        "samples",
        "at most 10000 items",
    )


def test_a_bad_sample_in_a_batch_is_named_by_its_index() -> None:
    raw = json.dumps({"samples": [sample_data(), sample_data(value=None)]}).encode()
    assert_invalid(lambda: SampleBatch.model_validate_json(raw), "samples.1.value", "number")


def test_validating_a_json_batch_of_1000_samples_is_cheap() -> None:
    samples = [
        sample_data(
            value=i * 1.5,
            labels={"job": "api", "instance": f"host-{i % 50}:9100", "env": "prod"},
            timestamp=1_700_000_000.0 + i,
        )
        for i in range(1000)
    ]
    raw = json.dumps({"type": "samples", "samples": samples}).encode()
    best = math.inf
    for _ in range(30):
        # CPU time, not wall time: other processes on a busy machine must not fail this.
        start = time.process_time()
        batch = SampleBatch.model_validate_json(raw)
        best = min(best, time.process_time() - start)
        del batch
    # The budget is 5 ms and about 2 ms is measured; the bound catches an order-of-
    # magnitude regression (Python validation per sample) without flaking on slow CI.
    assert best < 0.020, f"best of 30: {best * 1000:.1f} ms"


@no_deadline
@given(metric_samples())
def test_any_valid_sample_round_trips_through_json(sample: MetricSample) -> None:
    assert MetricSample.model_validate_json(sample.model_dump_json()) == sample


@no_deadline
@given(st.lists(metric_samples(), min_size=1, max_size=20))
def test_any_valid_batch_round_trips_through_json(samples: list[MetricSample]) -> None:
    batch = SampleBatch(samples=tuple(samples))
    assert SampleBatch.model_validate_json(batch.model_dump_json()) == batch


@no_deadline
@given(name=st.text(alphabet="_aZ09-. é", max_size=6))
def test_a_label_name_is_accepted_exactly_when_it_is_valid_and_not_reserved(name: str) -> None:
    # Validation checks both rules with one pattern: it must agree with the two rules.
    valid = re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name) is not None
    if valid and not name.startswith("__"):
        assert MetricSample.model_validate(sample_data(labels={name: "x"})).labels == {name: "x"}
        return
    with pytest.raises(ValidationError) as raised:
        MetricSample.model_validate(sample_data(labels={name: "x"}))
    (detail,) = raised.value.errors()
    assert detail["loc"] == ("labels", name, "[key]")
    assert "reserved" in detail["msg"]
    assert "[a-zA-Z_][a-zA-Z0-9_]*" in detail["msg"]
