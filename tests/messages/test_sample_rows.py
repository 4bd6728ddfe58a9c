"""parse_sample_batch and parse_ingest_frame: the models' documents, taken alike."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from messages import (
    CLIENT_FRAME_ADAPTER,
    IngestFrame,
    MetricSample,
    SampleBatch,
    SampleRows,
    parse_ingest_frame,
    parse_sample_batch,
)
from tests.messages.invalid import assert_invalid
from tests.messages.strategies import label_sets, metric_samples, no_deadline


def sample_data(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "http_requests_total",
        "value": 3.5,
        "labels": {"job": "api", "instance": "host-1:9100"},
        "timestamp": 1_700_000_000.0,
    }
    data.update(changes)
    return data


def document(*samples: dict[str, object], **fields: object) -> bytes:
    return json.dumps({"type": "samples", "samples": list(samples), **fields}).encode()


def outcome(validate: Any, raw: bytes) -> tuple[str, object]:
    """Return ("ok", samples as MetricSample) or ("error", (title, [(loc, msg)])).

    Not the error types: a sample that is not an object is ``model_type`` for the
    model and ``dict_type`` for a row, with the same message.
    """
    try:
        result = validate(raw)
    except ValidationError as error:
        details = [(e["loc"], e["msg"]) for e in error.errors()]
        return "error", (error.title, details)
    batch = result.to_batch() if isinstance(result, SampleRows) else result
    return "ok", batch.samples


def test_rows_hold_the_samples_fields_in_order() -> None:
    rows = parse_sample_batch(document(sample_data(value=1), sample_data(value=2, labels={})))
    assert [row["value"] for row in rows.rows] == [1.0, 2.0]
    assert rows.rows[0]["labels"] == {"job": "api", "instance": "host-1:9100"}
    assert rows.rows[1]["labels"] == {}


def test_missing_labels_become_an_empty_label_set() -> None:
    data = sample_data()
    del data["labels"]
    (row,) = parse_sample_batch(document(data)).rows
    assert row["labels"] == {}


def test_to_batch_gives_the_models_validation_would_give() -> None:
    raw = document(sample_data(value=1), sample_data(value=2.5, labels={"a": "b"}))
    assert parse_sample_batch(raw).to_batch() == SampleBatch.model_validate_json(raw)


def test_a_bad_sample_is_named_by_its_index_and_field() -> None:
    raw = document(sample_data(), sample_data(value=None))
    assert_invalid(lambda: parse_sample_batch(raw), "samples.1.value", "number")


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_values_are_rejected(token: bytes) -> None:
    raw = document(sample_data(value=0.0)).replace(b'"value": 0.0', b'"value": ' + token)
    assert_invalid(lambda: parse_sample_batch(raw), "samples.0.value", "finite")


def test_reserved_and_invalid_label_names_are_rejected_naming_the_label() -> None:
    raw = document(sample_data(), sample_data(labels={"__name__": "x", "ok": "y"}))
    assert_invalid(lambda: parse_sample_batch(raw), "samples.1.labels.__name__.[key]", "reserved")
    raw = document(sample_data(labels={"bad-name": "x"}))
    assert_invalid(lambda: parse_sample_batch(raw), "samples.0.labels.bad-name.[key]", "[a-zA-Z_]")


def test_empty_batches_and_unknown_fields_are_rejected() -> None:
    assert_invalid(lambda: parse_sample_batch(document()), "samples", "at least 1 item")
    raw = document(sample_data(extra=1))
    assert_invalid(lambda: parse_sample_batch(raw), "samples.0.extra", "Extra inputs")
    raw = document(sample_data(), unexpected=True)
    assert_invalid(lambda: parse_sample_batch(raw), "unexpected", "Extra inputs")


def test_a_row_is_one_object_for_the_garbage_collector() -> None:
    # The point of rows: a model is three tracked objects (instance, __dict__, fields
    # set); a row is one, and its label set (strings only) is not tracked at all.
    (row,) = parse_sample_batch(document(sample_data())).rows
    assert gc.is_tracked(row)
    assert not gc.is_tracked(row["labels"])


@no_deadline
@given(st.lists(metric_samples(), min_size=1, max_size=20))
def test_any_valid_batch_parses_to_the_same_samples(samples: list[MetricSample]) -> None:
    raw = SampleBatch(samples=tuple(samples)).model_dump_json().encode()
    assert outcome(parse_sample_batch, raw) == outcome(SampleBatch.model_validate_json, raw)


BAD_VALUES: dict[str, list[object]] = {
    "name": ["", "1abc", "a-b", 3, None],
    "value": [None, "x", "NaN", [], True],
    "labels": [{"__x": "1"}, {"a b": "1"}, {"a": 1}, {"": "v"}, [], "x"],
    "timestamp": [0, -1.0, 1e12, "now", None],
    "type": ["samples", 1, None],
    "extra": [1],
}


@st.composite
def messy_samples(draw: st.DrawFn) -> object:
    """Draw a sample document, valid or broken in one or two fields."""
    data: dict[str, object] = {
        "name": draw(st.sampled_from(["cpu", "mem_bytes", "a:b"])),
        "value": draw(st.floats(allow_nan=False, allow_infinity=False)),
        "labels": draw(label_sets),
        "timestamp": draw(st.floats(min_value=1.0, max_value=9e10)),
    }
    if draw(st.booleans()):
        data["type"] = "sample"
    for field in draw(st.lists(st.sampled_from(sorted(BAD_VALUES)), max_size=2)):
        data[field] = draw(st.sampled_from(BAD_VALUES[field]))
    if draw(st.integers(0, 9)) == 0:
        data.pop(draw(st.sampled_from(["name", "value", "labels", "timestamp"])))
    return draw(st.sampled_from([data, data, data, "not a sample", 7]))


@no_deadline
@given(st.lists(messy_samples(), max_size=6), st.sampled_from(["samples", "sample", None]))
def test_any_document_is_accepted_or_rejected_as_sample_batch_does(
    samples: list[object], kind: str | None
) -> None:
    body: dict[str, object] = {"samples": samples}
    if kind is not None:
        body["type"] = kind
    raw = json.dumps(body).encode()
    assert outcome(parse_sample_batch, raw) == outcome(SampleBatch.model_validate_json, raw)


@no_deadline
@given(
    st.lists(messy_samples(), max_size=4),
    st.sampled_from(["ingest", "ping", None]),
    st.sampled_from(["f1", "", 7, None]),
)
def test_an_ingest_frame_is_parsed_into_rows_exactly_when_the_union_takes_it(
    samples: list[object], kind: str | None, frame_id: object
) -> None:
    body: dict[str, object] = {"samples": samples}
    if kind is not None:
        body["type"] = kind
    if frame_id is not None:
        body["id"] = frame_id
    raw = json.dumps(body)
    rows = parse_ingest_frame(raw)
    try:
        frame = CLIENT_FRAME_ADAPTER.validate_json(raw)
    except ValidationError:
        assert rows is None
        return
    if not isinstance(frame, IngestFrame):
        assert rows is None
        return
    assert rows is not None
    assert rows.id == frame.id
    assert rows.samples.to_batch().samples == frame.samples


def test_an_ingest_frame_whose_type_is_spelled_with_escapes_is_left_to_the_union() -> None:
    raw = json.dumps({"type": "ingest", "id": "a", "samples": [sample_data()]})
    assert parse_ingest_frame(raw) is not None
    escaped = raw.replace('"ingest"', '"\\u0069ngest"')
    assert parse_ingest_frame(escaped) is None
    assert isinstance(CLIENT_FRAME_ADAPTER.validate_json(escaped), IngestFrame)
