"""Silences as plain code: create, list, expire early, start and end on time, restore."""

from __future__ import annotations

import pytest

from actors.alerting import SILENCES, AlertBook, IllegalTransition, InvalidSilence
from actors.store import StateWrite, StoredEvent
from messages import AlertState, SilenceStatus
from tests.alerting.builders import T0, documents, firing, kinds, resolved, silence


def test_an_active_silence_suppresses_the_matching_open_alerts_only() -> None:
    book = AlertBook()
    book.fire(firing(host="a"), T0)
    book.fire(firing("mem", host="a"), T0)
    created, events = book.create_silence(silence('{alertname="cpu"}'), T0 + 1)
    assert kinds(events) == ["silence_created", "alert_suppressed"]
    assert events[1].payload["silenced_by"] == [created.silence_id]
    assert book.get("alert-1").state is AlertState.SUPPRESSED
    assert book.get("alert-1").status is AlertState.ACTIVE
    assert book.get("alert-2").state is AlertState.ACTIVE
    assert created.status(T0 + 1) is SilenceStatus.ACTIVE
    assert (created.created_by, created.created_at, created.comment) == (
        "ops",
        T0 + 1,
        "maintenance",
    )


def test_an_alert_that_opens_under_a_silence_opens_suppressed() -> None:
    book = AlertBook()
    book.create_silence(silence(), T0)
    events = book.fire(firing(), T0 + 1)
    assert kinds(events) == ["alert_opened"]
    assert events[0].payload["state"] == "suppressed"
    assert events[0].payload["silenced_by"] == ["silence-1"]


def test_a_silence_for_later_mutes_nothing_until_it_starts() -> None:
    book = AlertBook()
    book.fire(firing(), T0)
    created, events = book.create_silence(silence(starts_at=T0 + 100, ends_at=T0 + 200), T0)
    assert kinds(events) == ["silence_created"]
    assert created.status(T0) is SilenceStatus.PENDING
    assert book.next_silence_change() == T0 + 100
    assert book.tick(T0 + 99) == []
    assert kinds(book.tick(T0 + 100)) == ["silence_started", "alert_suppressed"]
    assert book.get("alert-1").state is AlertState.SUPPRESSED
    assert book.next_silence_change() == T0 + 200


def test_alerts_return_to_their_real_state_when_the_silence_ends() -> None:
    book = AlertBook()
    book.fire(firing(host="a"), T0)
    book.fire(firing(host="b"), T0)
    book.create_silence(silence(ends_at=T0 + 60), T0)
    book.acknowledge("alert-2", "ann", "while muted", T0 + 1)
    assert book.get("alert-2").state is AlertState.SUPPRESSED
    events = book.tick(T0 + 60)
    assert kinds(events) == ["silence_ended", "alert_unsuppressed", "alert_unsuppressed"]
    assert book.get("alert-1").state is AlertState.ACTIVE
    assert book.get("alert-2").state is AlertState.ACKNOWLEDGED
    assert book.silence("silence-1").status(T0 + 60) is SilenceStatus.EXPIRED
    assert book.next_silence_change() is None


def test_an_operator_can_expire_a_silence_early_once() -> None:
    book = AlertBook()
    book.fire(firing(), T0)
    book.create_silence(silence(), T0)
    events = book.expire_silence("silence-1", "bob", "done early", T0 + 5)
    assert kinds(events) == ["silence_expired", "alert_unsuppressed"]
    assert (events[0].payload["by"], events[0].payload["comment"]) == ("bob", "done early")
    summary = book.silence("silence-1").summary(T0 + 5)
    assert summary.status is SilenceStatus.EXPIRED
    assert (summary.expired_by, summary.expired_at, summary.expire_comment) == (
        "bob",
        T0 + 5,
        "done early",
    )
    assert book.get("alert-1").state is AlertState.ACTIVE
    with pytest.raises(IllegalTransition) as raised:
        book.expire_silence("silence-1", "bob", "", T0 + 6)
    assert raised.value.to_reply().code == "illegal_transition"
    assert book.tick(T0 + 4000) == []  # its natural end is not announced again


def test_a_silence_expired_before_comments_were_kept_restores_without_one() -> None:
    book = AlertBook()
    _, events = book.create_silence(silence(), T0)
    events += book.expire_silence("silence-1", "bob", "", T0 + 5)
    old_history = []
    for seq, event in enumerate(events, 1):
        payload = dict(event.payload)
        if event.kind == "silence_expired":
            del payload["comment"]
        old_history.append(StoredEvent(seq, event.kind, event.at, payload))
    old_documents = documents(book.drain_writes())
    del old_documents[SILENCES]["silence-1"]["expire_comment"]
    for restored in (AlertBook.restore({}, old_history), AlertBook.restore(old_documents)):
        summary = restored.silence("silence-1").summary(T0 + 5)
        assert (summary.status, summary.expired_by, summary.expire_comment) == (
            SilenceStatus.EXPIRED,
            "bob",
            None,
        )


def test_a_silence_past_its_end_cannot_be_expired() -> None:
    book = AlertBook()
    book.create_silence(silence(ends_at=T0 + 10), T0)
    with pytest.raises(IllegalTransition):
        book.expire_silence("silence-1", "bob", "", T0 + 11)


def test_a_silence_already_over_when_created_is_invalid_and_changes_nothing() -> None:
    book = AlertBook()
    with pytest.raises(InvalidSilence) as raised:
        book.create_silence(silence(starts_at=T0 - 100, ends_at=T0 - 1), T0)
    assert (raised.value.to_reply().code, raised.value.to_reply().field) == ("invalid", "ends_at")
    assert book.silences(T0, include_expired=True) == []
    assert book.drain_writes() == []


def test_a_silenced_alert_that_resolves_is_recorded_as_resolved() -> None:
    # Alertmanager #226: a silenced alert must not stay muted-and-firing forever.
    book = AlertBook()
    book.create_silence(silence(), T0)
    book.fire(firing(), T0)
    events = book.resolve_automatically(resolved(), T0 + 10)
    assert kinds(events) == ["alert_resolved"]
    assert events[0].payload["was_silenced_by"] == ["silence-1"]
    alert = book.get("alert-1")
    assert alert.state is AlertState.RESOLVED
    assert alert.silenced_by == frozenset()
    assert kinds(book.tick(T0 + 3600)) == ["silence_ended"]  # nothing left to unmute


def test_an_alert_muted_by_two_silences_stays_muted_until_both_end() -> None:
    book = AlertBook()
    book.fire(firing(), T0)
    book.create_silence(silence(ends_at=T0 + 10), T0)
    book.create_silence(silence('{host="a"}', ends_at=T0 + 20), T0)
    assert book.get("alert-1").silenced_by == {"silence-1", "silence-2"}
    assert kinds(book.tick(T0 + 10)) == ["silence_ended", "alert_suppressed"]
    assert book.get("alert-1").state is AlertState.SUPPRESSED
    assert kinds(book.tick(T0 + 20)) == ["silence_ended", "alert_unsuppressed"]


def test_listing_shows_live_silences_oldest_first_and_expired_ones_on_request() -> None:
    book = AlertBook()
    book.create_silence(silence(ends_at=T0 + 10), T0)
    book.create_silence(silence(starts_at=T0 + 50, ends_at=T0 + 100), T0)
    book.create_silence(silence(), T0)
    book.tick(T0 + 10)
    live = book.silences(T0 + 10)
    assert [s.silence_id for s in live] == ["silence-2", "silence-3"]
    assert [s.status(T0 + 10) for s in live] == [SilenceStatus.PENDING, SilenceStatus.ACTIVE]
    every = book.silences(T0 + 10, include_expired=True)
    assert [s.silence_id for s in every] == ["silence-1", "silence-2", "silence-3"]


def test_ended_silences_past_the_bound_are_forgotten() -> None:
    book = AlertBook(max_ended_silences=1)
    for _ in range(3):
        book.create_silence(silence(ends_at=T0 + 10), T0)
    book.tick(T0 + 10)
    writes = book.drain_writes()
    assert StateWrite(SILENCES, "silence-1", None) in writes
    assert [s.silence_id for s in book.silences(T0 + 10, include_expired=True)] == ["silence-3"]


def test_a_silence_that_ended_while_nothing_ran_ends_on_restore() -> None:
    book = AlertBook()
    book.fire(firing(), T0)
    book.create_silence(silence(ends_at=T0 + 60), T0)
    restored = AlertBook.restore(documents(book.drain_writes()))
    assert restored.get("alert-1").state is AlertState.SUPPRESSED
    events = restored.reconcile(T0 + 3600)
    assert kinds(events) == ["silence_ended", "alert_unsuppressed"]
    assert restored.get("alert-1").state is AlertState.ACTIVE


def test_a_pending_silence_starts_on_time_after_a_restore() -> None:
    book = AlertBook()
    book.fire(firing(), T0)
    book.create_silence(silence(starts_at=T0 + 60, ends_at=T0 + 120), T0)
    restored = AlertBook.restore(documents(book.drain_writes()))
    assert restored.reconcile(T0 + 30) == []
    assert restored.next_silence_change() == T0 + 60
    assert kinds(restored.tick(T0 + 60)) == ["silence_started", "alert_suppressed"]
