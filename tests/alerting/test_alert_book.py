"""The alert lifecycle as plain code: dedup, every transition legal and illegal, persistence."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from actors.alerting import (
    ALERTS,
    AlertBook,
    AlertNotFound,
    IllegalTransition,
    SilenceNotFound,
)
from actors.alerting._book import META, META_KEY
from actors.store import StateWrite
from messages import AlertState, RuleError, parse_matchers
from tests.alerting.builders import (
    T0,
    documents,
    firing,
    fp,
    kinds,
    labels_of,
    resolved,
    silence,
)

# -- dedup and occurrences ---------------------------------------------------------------------


def test_a_firing_event_for_a_new_fingerprint_opens_an_active_alert() -> None:
    book = AlertBook()
    events = book.fire(firing(value=3.0, annotations={"summary": "hot"}), T0 + 1)
    assert kinds(events) == ["alert_opened"]
    alert = book.get("alert-1")
    assert alert.state is AlertState.ACTIVE
    assert (alert.fingerprint, alert.value, alert.annotations) == (fp(), 3.0, {"summary": "hot"})
    assert (alert.opened_at, alert.last_seen_at, alert.starts_at) == (T0 + 1, T0 + 1, T0)
    event = events[0]
    assert (event.alert_id, event.fingerprint, event.rule_id, event.at) == (
        "alert-1",
        fp(),
        "cpu",
        T0 + 1,
    )
    assert event.payload["labels"] == labels_of()
    assert event.payload["state"] == "active"


def test_a_firing_event_for_an_open_alert_updates_it_and_never_opens_a_second() -> None:
    book = AlertBook()
    book.fire(firing(value=1.0), T0)
    events = book.fire(firing(value=2.0, annotations={"summary": "hotter"}), T0 + 5)
    assert kinds(events) == ["alert_updated"]
    assert len(book) == 1
    alert = book.get("alert-1")
    assert (alert.value, alert.annotations, alert.last_seen_at, alert.updates) == (
        2.0,
        {"summary": "hotter"},
        T0 + 5,
        1,
    )
    assert events[0].payload["value"] == 2.0


def test_distinct_label_sets_open_distinct_alerts() -> None:
    book = AlertBook()
    book.fire(firing(host="a"), T0)
    book.fire(firing(host="b"), T0)
    book.fire(firing("mem", host="a"), T0)
    assert [a.alert_id for a in book.open_alerts()] == ["alert-1", "alert-2", "alert-3"]


def test_a_resolution_closes_the_open_alert_automatically() -> None:
    book = AlertBook()
    book.fire(firing(), T0)
    events = book.resolve_automatically(resolved(value=0.5), T0 + 10)
    assert kinds(events) == ["alert_resolved"]
    alert = book.get("alert-1")
    assert alert.state is AlertState.RESOLVED
    assert (alert.resolved_at, alert.resolved_by, alert.value) == (T0 + 10, None, 0.5)
    assert events[0].payload["manual"] is False
    assert book.open_alert(fp()) is None


def test_a_resolution_of_a_fingerprint_with_no_open_alert_changes_nothing() -> None:
    book = AlertBook()
    assert book.resolve_automatically(resolved(), T0) == []
    book.fire(firing(), T0)
    book.resolve_automatically(resolved(), T0 + 1)
    assert book.resolve_automatically(resolved(), T0 + 2) == []
    assert book.drain_writes() != []  # the first resolution's documents
    assert book.resolve_automatically(resolved(), T0 + 3) == []
    assert book.drain_writes() == []


def test_a_later_firing_opens_a_new_occurrence_linked_to_the_same_fingerprint() -> None:
    book = AlertBook()
    book.fire(firing(), T0)
    book.resolve_automatically(resolved(), T0 + 10)
    events = book.fire(firing(starts_at=T0 + 20), T0 + 20)
    assert kinds(events) == ["alert_opened"]
    second = book.get("alert-2")
    assert (second.fingerprint, second.previous_alert_id) == (fp(), "alert-1")
    assert events[0].payload["previous_alert_id"] == "alert-1"
    assert book.get("alert-1").state is AlertState.RESOLVED
    assert book.open_alert(fp()) is second


def test_a_rule_error_is_recorded_and_changes_no_alert() -> None:
    book = AlertBook()
    book.fire(firing(), T0)
    error = RuleError(rule_id="cpu", error="template failed", at=T0, fingerprint=fp())
    events = book.record_rule_error(error, T0 + 1)
    assert kinds(events) == ["rule_error"]
    assert (events[0].alert_id, events[0].payload["error"]) == ("alert-1", "template failed")
    assert book.get("alert-1").state is AlertState.ACTIVE


# -- operator transitions, legal and illegal ------------------------------------------------


def _active(book: AlertBook) -> None:
    book.fire(firing(), T0)


def _acknowledged(book: AlertBook) -> None:
    book.fire(firing(), T0)
    book.acknowledge("alert-1", "ann", "", T0 + 1)


def _resolved_automatically(book: AlertBook) -> None:
    book.fire(firing(), T0)
    book.resolve_automatically(resolved(), T0 + 1)


def _resolved_manually(book: AlertBook) -> None:
    book.fire(firing(), T0)
    book.resolve("alert-1", "ann", "fixed", T0 + 1)


def _suppressed(book: AlertBook) -> None:
    book.create_silence(silence(), T0)
    book.fire(firing(), T0)


def _suppressed_acknowledged(book: AlertBook) -> None:
    _suppressed(book)
    book.acknowledge("alert-1", "ann", "", T0 + 1)


STARTS: dict[str, Callable[[AlertBook], None]] = {
    "active": _active,
    "acknowledged": _acknowledged,
    "resolved automatically": _resolved_automatically,
    "resolved manually": _resolved_manually,
    "suppressed": _suppressed,
    "suppressed and acknowledged": _suppressed_acknowledged,
}

# start -> (acknowledge allowed, resolve allowed, state after acknowledge, after resolve)
TABLE = {
    "active": (True, True, AlertState.ACKNOWLEDGED, AlertState.RESOLVED),
    "acknowledged": (False, True, None, AlertState.RESOLVED),
    "resolved automatically": (False, False, None, None),
    "resolved manually": (False, False, None, None),
    "suppressed": (True, True, AlertState.SUPPRESSED, AlertState.RESOLVED),
    "suppressed and acknowledged": (False, True, None, AlertState.RESOLVED),
}


@pytest.mark.parametrize("start", list(STARTS))
def test_acknowledging_succeeds_only_from_an_active_underlying_state(start: str) -> None:
    book = AlertBook()
    STARTS[start](book)
    book.drain_writes()
    allowed, _, after, _ = TABLE[start]
    before = book.get("alert-1").detail()
    if not allowed:
        with pytest.raises(IllegalTransition) as raised:
            book.acknowledge("alert-1", "bob", "mine", T0 + 2)
        assert raised.value.to_reply().code == "illegal_transition"
        assert book.get("alert-1").detail() == before
        assert book.drain_writes() == []
        return
    events = book.acknowledge("alert-1", "bob", "mine", T0 + 2)
    assert kinds(events) == ["alert_acknowledged"]
    alert = book.get("alert-1")
    assert alert.state is after
    assert alert.status is AlertState.ACKNOWLEDGED
    assert (alert.acknowledged_by, alert.acknowledged_at, alert.acknowledge_comment) == (
        "bob",
        T0 + 2,
        "mine",
    )
    assert (events[0].payload["by"], events[0].payload["comment"]) == ("bob", "mine")


@pytest.mark.parametrize("start", list(STARTS))
def test_resolving_by_hand_succeeds_only_while_the_alert_is_open(start: str) -> None:
    book = AlertBook()
    STARTS[start](book)
    book.drain_writes()
    _, allowed, _, after = TABLE[start]
    before = book.get("alert-1").detail()
    if not allowed:
        with pytest.raises(IllegalTransition):
            book.resolve("alert-1", "bob", "done", T0 + 2)
        assert book.get("alert-1").detail() == before
        assert book.drain_writes() == []
        return
    events = book.resolve("alert-1", "bob", "done", T0 + 2)
    assert kinds(events)[0] == "alert_resolved"
    alert = book.get("alert-1")
    assert alert.state is after
    assert (alert.resolved_by, alert.resolve_comment, alert.resolved_at) == ("bob", "done", T0 + 2)
    assert events[0].payload["manual"] is True
    assert events[0].payload["by"] == "bob"


@pytest.mark.parametrize("action", ["acknowledge", "resolve", "escalate"])
def test_an_unknown_alert_id_is_a_not_found_error(action: str) -> None:
    book = AlertBook()
    book.fire(firing(), T0)
    attempt: Callable[[], object] = (
        (lambda: book.escalate("alert-9", 0, ["pager"], T0))
        if action == "escalate"
        else (lambda: getattr(book, action)("alert-9", "bob", "", T0))
    )
    with pytest.raises(AlertNotFound) as raised:
        attempt()
    reply = raised.value.to_reply()
    assert (reply.code, reply.field) == ("not_found", "alert_id")
    assert book.drain_writes() != []  # only the firing's


def test_an_unknown_silence_id_is_a_not_found_error() -> None:
    book = AlertBook()
    with pytest.raises(SilenceNotFound) as raised:
        book.expire_silence("silence-9", "bob", "", T0)
    assert raised.value.to_reply().field == "silence_id"


def test_a_manual_resolution_holds_until_the_rule_resolves() -> None:
    book = AlertBook()
    book.fire(firing(), T0)
    book.resolve("alert-1", "ann", "known issue", T0 + 1)
    assert book.fire(firing(value=5.0), T0 + 2) == []  # same episode: still resolved
    assert book.open_alert(fp()) is None
    assert [a.alert_id for a in book.firing("cpu")] == ["alert-1"]
    events = book.resolve_automatically(resolved(), T0 + 3)
    assert kinds(events) == ["alert_rule_resolved"]
    assert events[0].alert_id == "alert-1"
    assert book.resolve_automatically(resolved(), T0 + 3) == []
    assert book.firing("cpu") == []
    assert kinds(book.fire(firing(), T0 + 4)) == ["alert_opened"]  # the hold is gone


def test_a_new_episode_reopens_a_manually_resolved_fingerprint() -> None:
    book = AlertBook()
    book.fire(firing(), T0)
    book.resolve("alert-1", "ann", "", T0 + 1)
    assert kinds(book.fire(firing(starts_at=T0 + 60), T0 + 60)) == ["alert_opened"]
    assert book.get("alert-2").previous_alert_id == "alert-1"
    assert book.get("alert-1").held is False


def test_an_escalation_level_is_recorded_on_an_open_alert_only() -> None:
    book = AlertBook()
    book.fire(firing(), T0)
    events = book.escalate("alert-1", 1, ["pager", "lead"], T0 + 60)
    assert kinds(events) == ["alert_escalated"]
    assert events[0].payload["receivers"] == ["pager", "lead"]
    assert book.get("alert-1").escalation_level == 1
    book.resolve_automatically(resolved(), T0 + 61)
    with pytest.raises(IllegalTransition):
        book.escalate("alert-1", 2, ["boss"], T0 + 62)


# -- queries -----------------------------------------------------------------------------------


def test_queries_filter_by_state_and_matchers_newest_first_with_a_limit() -> None:
    book = AlertBook()
    for host in "abcd":
        book.fire(firing(host=host), T0)
    book.acknowledge("alert-2", "ann", "", T0)
    book.resolve_automatically(resolved(host="c"), T0)
    ids = [a.alert_id for a in book.query()]
    assert ids == ["alert-4", "alert-3", "alert-2", "alert-1"]
    assert [a.alert_id for a in book.query([AlertState.ACTIVE])] == ["alert-4", "alert-1"]
    matchers = parse_matchers('{host=~"a|b"}')
    assert [a.alert_id for a in book.query((), matchers)] == ["alert-2", "alert-1"]
    assert [a.alert_id for a in book.query(limit=1)] == ["alert-4"]


def test_summary_and_detail_say_who_did_what() -> None:
    book = AlertBook()
    book.fire(firing(), T0)
    book.acknowledge("alert-1", "ann", "looking", T0 + 1)
    book.resolve("alert-1", "bob", "fixed", T0 + 2)
    detail = book.get("alert-1").detail()
    assert detail.alert.acknowledged_by == "ann"
    assert detail.acknowledge_comment == "looking"
    assert (detail.resolved_by, detail.resolve_comment) == ("bob", "fixed")
    assert detail.underlying_state is AlertState.RESOLVED


# -- persistence --------------------------------------------------------------------------------


def test_each_changed_alert_is_written_once_per_drain_with_the_counters() -> None:
    book = AlertBook()
    book.fire(firing(), T0)
    book.fire(firing(value=2.0), T0 + 1)
    book.fire(firing(value=3.0), T0 + 2)
    writes = book.drain_writes()
    assert [(w.collection, w.key) for w in writes] == [(ALERTS, "alert-1"), (META, META_KEY)]
    assert writes[0].value is not None
    assert writes[0].value["value"] == 3.0
    assert book.drain_writes() == []


def test_a_book_restored_from_its_documents_continues_exactly() -> None:
    book = AlertBook()
    book.fire(firing(host="a"), T0)
    book.fire(firing(host="b"), T0)
    book.acknowledge("alert-2", "ann", "mine", T0 + 1)
    book.fire(firing(host="c"), T0)
    book.resolve("alert-3", "bob", "", T0 + 2)
    book.create_silence(silence('{host="a"}'), T0 + 3)
    docs = documents(book.drain_writes())
    restored = AlertBook.restore(docs)
    assert restored.reconcile(T0 + 4) == []
    assert [a.detail() for a in restored.query()] == [a.detail() for a in book.query()]
    assert restored.get("alert-1").state is AlertState.SUPPRESSED
    assert kinds(restored.fire(firing(host="d"), T0 + 5)) == ["alert_opened"]
    assert restored.open_alert(fp(host="d")).alert_id == "alert-4"  # type: ignore[union-attr]
    assert restored.fire(firing(host="c"), T0 + 5) == []  # the manual hold came back too
    created, _ = restored.create_silence(silence('{host="z"}'), T0 + 6)
    assert created.silence_id == "silence-2"


def test_resolved_alerts_past_the_bound_are_forgotten_and_their_documents_deleted() -> None:
    book = AlertBook(max_resolved=2)
    for host in "abc":
        book.fire(firing(host=host), T0)
        book.resolve_automatically(resolved(host=host), T0 + 1)
    writes = book.drain_writes()
    assert StateWrite(ALERTS, "alert-1", None) in writes
    with pytest.raises(AlertNotFound):
        book.get("alert-1")
    assert [a.alert_id for a in book.query()] == ["alert-3", "alert-2"]
    assert kinds(book.fire(firing(host="a"), T0 + 2)) == ["alert_opened"]
    assert book.get("alert-4").previous_alert_id is None
