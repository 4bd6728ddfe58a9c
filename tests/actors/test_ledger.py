"""The AlertLedger's record: open and closed alerts by fingerprint."""

from __future__ import annotations

from actors import AlertLedger, AlertRecord, LedgerStatsQuery
from messages import AlertFiring, AlertResolved, RuleError, Severity, alert_labels, fingerprint
from supervision import ActorSystem, ChildSpec


def firing(host: str, starts_at: float = 100.0, rule_id: str = "r") -> AlertFiring:
    labels = alert_labels(rule_id, {}, {"host": host})
    return AlertFiring(
        rule_id=rule_id,
        labels=labels,
        fingerprint=fingerprint(labels),
        value=1.0,
        severity=Severity.WARNING,
        starts_at=starts_at,
    )


def resolved(alert: AlertFiring) -> AlertResolved:
    return AlertResolved(
        rule_id=alert.rule_id,
        labels=alert.labels,
        fingerprint=alert.fingerprint,
        value=0.0,
        resolved_at=alert.starts_at + 1,
    )


def test_a_firing_event_opens_an_alert_and_a_resolved_event_closes_it() -> None:
    record = AlertRecord()
    alert = firing("a")
    assert record.record(alert)
    assert record.firing("r") == (alert,)
    assert record.record(resolved(alert))
    assert record.firing("r") == ()
    stats = record.stats()
    assert (stats.open, stats.opened, stats.closed) == (0, 1, 1)


def test_a_second_firing_of_an_open_alert_is_a_counted_duplicate() -> None:
    record = AlertRecord()
    record.record(firing("a"))
    assert not record.record(firing("a", starts_at=200.0))
    assert record.firing("r")[0].starts_at == 100.0
    assert record.stats().duplicates == 1


def test_resolving_an_alert_that_is_not_open_is_counted() -> None:
    record = AlertRecord()
    assert not record.record(resolved(firing("a")))
    assert record.stats().unknown_resolves == 1


def test_firing_alerts_are_per_rule_and_oldest_first() -> None:
    record = AlertRecord()
    later, earlier, other = firing("a", 200.0), firing("b", 100.0), firing("c", rule_id="o")
    for event in (later, earlier, other):
        record.record(event)
    assert record.firing("r") == (earlier, later)
    assert record.firing("o") == (other,)


def test_rule_errors_are_kept_up_to_a_limit() -> None:
    record = AlertRecord(keep_errors=2)
    for index in range(3):
        record.record(RuleError(rule_id="r", error=f"e{index}", at=100.0))
    assert [error.error for error in record.errors] == ["e1", "e2"]
    assert record.stats().rule_errors == 3


async def test_a_listener_that_raises_does_not_cost_the_ledger_its_record() -> None:
    def listener(event: object) -> None:
        raise RuntimeError("the embedder's bug")

    async with ActorSystem([ChildSpec("ledger", lambda: AlertLedger(listener=listener))]) as system:
        ledger = system.lookup("/ledger")
        ledger.tell(firing("a"))
        ledger.tell(firing("b"))
        stats = await ledger.ask(LedgerStatsQuery())
        assert stats.open == 2
