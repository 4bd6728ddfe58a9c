"""RuleEvaluation: one rule over every series it selects, driven by explicit time.

Plain synchronous code (STYLE rule 1): the ``RuleEvaluator`` actor feeds it samples
and the clock's time, and performs what it returns.  Nothing here reads a clock,
sleeps or does I/O, so every transition is tested with explicit ``now`` values.

Time.  ``now`` is evaluation time in epoch seconds (the actor passes
``clock.time()``); it never goes backwards (an earlier ``now`` is taken as the latest
one).  Windows slide on sample timestamps (see ``_windows``); ``for``,
``keep_firing_for`` and the no-data timeout run on evaluation time.  The evaluation
reports its ``next_deadline()``; ``tick(now)`` performs every transition due by then,
and ``apply`` does the same before it looks at its samples, so the outcome never
depends on how late a timer fired.

Samples.  Per series, timestamps must increase: a sample older than the series' newest
is dropped and counted (``out_of_order``); one with the same timestamp is dropped and
counted (``duplicates``: the first value wins, as Prometheus rejects a second value for
a timestamp); one more than ``future_tolerance`` seconds ahead of ``now`` is dropped
and counted (``too_far_ahead``), because accepting it would block the series until its
clock caught up.

Idle series.  An inactive series with no sample for ``series_idle_ttl`` seconds is
forgotten by a sweep that ``tick`` (and ``apply``) run every quarter of that time:
see ``_idle``.  ``next_wakeup()`` includes the sweep; ``next_deadline()`` does not.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import cast

from actors.evaluation._alert_events import AlertEvent, AlertEventBuilder
from actors.evaluation._conditions import ThresholdJudge, compile_judge
from actors.evaluation._deadlines import DeadlineQueue, SilenceWatch
from actors.evaluation._entries import SampleEntries, sample_entry, series_key
from actors.evaluation._idle import DEFAULT_SERIES_IDLE_TTL, IdleSweep
from actors.evaluation._limits import SeriesCap
from actors.evaluation._sample_loops import apply_general, apply_threshold, apply_windowed
from actors.evaluation._series import (
    Series,
    SeriesKey,
    SeriesState,
    Transition,
    expire,
    observe,
)
from actors.evaluation._stats import EvaluationStats, SeriesCounts
from messages import (
    ALERT_LABEL_NAMES,
    AlertFiring,
    AlertResolved,
    AnyRule,
    MetricSample,
)

__all__ = ["EvaluationStats", "RuleEvaluation"]

_FIRING = SeriesState.FIRING
_INACTIVE = SeriesState.INACTIVE
_FIRED = Transition.FIRED
_RESOLVED_NOW = Transition.RESOLVED


class RuleEvaluation:
    """Evaluate one rule over its series; return the alert events each step causes.

    ``apply`` expects samples its rule selects (the router filters them; use
    ``rule.selector.matches`` otherwise).  Events come back in the order they happened:
    ``AlertFiring`` and ``AlertResolved`` (value and no-data alerts), and ``RuleError``
    when a condition or an annotation template failed; a failure never raises and
    never changes the series' state.  Template errors still fire the alert, with the
    raw template text as the annotation.
    """

    fast_paths = True
    """Whether ``apply`` may use its specialised loops (tests compare it with False)."""

    def __init__(
        self,
        rule: AnyRule,
        *,
        future_tolerance: float = 600.0,
        series_idle_ttl: float | None = DEFAULT_SERIES_IDLE_TTL,
        max_series: int | None = None,
        on_series_limit: Callable[[int], None] | None = None,
    ) -> None:
        self.rule = rule
        self._cap = SeriesCap(max_series, on_series_limit)
        self.future_tolerance = future_tolerance
        judge = compile_judge(rule)
        self._threshold_judge = judge if isinstance(judge, ThresholdJudge) else None
        self._judge = None if isinstance(judge, ThresholdJudge) else judge
        self._new_windows = judge.new_windows
        self._idle = (
            None if series_idle_ttl is None else IdleSweep(series_idle_ttl, judge.new_windows())
        )
        self._for = rule.for_
        self._keep_firing_for = rule.keep_firing_for
        self._events = AlertEventBuilder(rule)
        self._series: dict[SeriesKey, Series] = {}
        self._deadlines = DeadlineQueue()
        timeout = rule.no_data_timeout
        self._silence = SilenceWatch(timeout) if timeout is not None else None
        # Series restored as firing that have not sent a sample yet: by key, and by
        # fingerprint for a series whose labels could not be reconstructed exactly.
        self._unclaimed: dict[SeriesKey, Series] = {}
        self._unclaimed_fingerprints: dict[str, Series] = {}
        self._restored_no_data = False
        self._now = -math.inf
        self._samples = 0
        self._out_of_order = 0
        self._duplicates = 0
        self._too_far_ahead = 0
        self._condition_errors = 0

    # -- input ----------------------------------------------------------------------------

    def apply(
        self,
        samples: Sequence[MetricSample],
        now: float,
        keys: Sequence[SeriesKey] | None = None,
    ) -> list[AlertEvent]:
        """Evaluate ``samples`` (in order) at ``now``; return the events they caused.

        ``keys``, when given, are the samples' ``series_key``s, in the same order
        (the router computes them once per series).  Deadlines due by ``now`` are
        performed first.
        """
        entries: SampleEntries = []
        if keys is None:
            for sample in samples:
                entries.extend(sample_entry(sample))
        else:
            for key, sample in zip(keys, samples, strict=True):
                entries.extend(sample_entry(sample, key))
        return self.apply_entries(entries, now)

    def apply_entries(self, entries: SampleEntries, now: float) -> list[AlertEvent]:
        """Evaluate ``entries`` (see ``SampleEntries``) in order at ``now``, as ``apply``.

        This is the hot path the ``RuleEvaluator`` takes with what the router sends.
        """
        now = self._advance(now)
        events: list[AlertEvent] = []
        self._expire(now, events)
        horizon = now + self.future_tolerance
        # How samples are judged, decided once per batch.  A threshold on the raw value
        # or on one aggregate, for a rule without no-data alerts and with nothing left
        # to recover, has a loop of its own that does only that (a Python call or a
        # branch per sample costs as much as the rest of the work); everything else
        # takes the general loop.  Both give the same events (a property test checks).
        judge = self._threshold_judge
        if (
            judge is None
            or not self.fast_paths
            or self._silence is not None
            or self._restored_no_data
            or self._unclaimed
            or self._unclaimed_fingerprints
        ):
            dropped = apply_general(self, entries, now, horizon, events)
        elif judge.aggregation is None:
            dropped = apply_threshold(self, entries, now, horizon, events, judge.check)
        else:
            dropped = apply_windowed(self, entries, now, horizon, events, judge.check)
        self._samples += len(entries) // 4 - dropped
        return events

    def tick(self, now: float) -> list[AlertEvent]:
        """Perform every transition due by ``now``; return the events."""
        now = self._advance(now)
        events: list[AlertEvent] = []
        self._expire(now, events)
        return events

    def next_deadline(self) -> float | None:
        """Return when ``tick`` next has something to do, or None if nothing is due ever."""
        deadline = self._deadlines.next_deadline()
        if self._silence is not None:
            silent = self._silence.next_deadline()
            if silent is not None and (deadline is None or silent < deadline):
                return silent
        return deadline

    def next_wakeup(self) -> float | None:
        """Return when ``tick`` next has anything to do, the idle sweep included."""
        deadline = self.next_deadline()
        idle = self._idle
        if idle is not None and self._series and (deadline is None or idle.next_at < deadline):
            return idle.next_at
        return deadline

    def restore(self, alerts: Iterable[AlertFiring], now: float) -> int:
        """Take back alerts that were firing before a restart; return how many.

        Each becomes a firing series (or a series whose no-data alert fires) with its
        original labels, fingerprint and ``starts_at``, so it is neither re-announced
        nor forgotten: the next samples resolve it or keep it firing.  Its windows start
        empty, and its no-data timeout counts from ``now``.  Alerts of another rule are
        ignored.  Pending series cannot be restored: they start over.
        """
        now = self._advance(now)
        if self._idle is not None and now >= self._idle.next_at:
            self._sweep(now)
        rule = self.rule
        restored = 0
        for alert in alerts:
            if alert.rule_id != rule.id:
                continue
            labels = {
                name: value
                for name, value in alert.labels.items()
                if name not in rule.labels and name not in ALERT_LABEL_NAMES
            }
            key = series_key(labels)
            series = self._series.get(key)
            if series is None:
                series = self._make_series(key, labels)  # never refused: see _limits
            identity = (dict(alert.labels), alert.fingerprint)
            if alert.no_data:
                self._restored_no_data = True
                series.no_data = True
                series.no_data_identity = identity
                series.last_sample = alert.value
                if self._silence is not None:
                    self._silence.forget(series)
            else:
                series.state = _FIRING
                series.since = alert.starts_at
                series.deadline = None
                series.value = math.nan if alert.value is None else alert.value
                series.alert_identity = identity
                if self._silence is not None and not series.no_data:
                    series.last_seen = now
                    self._silence.heard(series)
            self._unclaimed[key] = series
            self._unclaimed_fingerprints[alert.fingerprint] = series
            restored += 1
        return restored

    def retire(self, now: float) -> list[AlertResolved]:
        """Resolve every firing alert (value None) and forget every series.

        For a rule that is deleted or replaced: its alerts end rather than linger.
        """
        now = self._advance(now)
        events: list[AlertResolved] = []
        for series in self._series.values():
            if series.state is _FIRING:
                events.append(self._events.resolved(series, False, None, now))
            if series.no_data:
                events.append(self._events.resolved(series, True, None, now))
        self._series.clear()
        self._deadlines.clear()
        if self._silence is not None:
            self._silence.clear()
        self._unclaimed.clear()
        self._unclaimed_fingerprints.clear()
        return events

    # -- introspection ----------------------------------------------------------------------

    def state_of(self, labels: Mapping[str, str]) -> SeriesState | None:
        """Return the state of the series with ``labels``, or None if it is unknown."""
        series = self._series.get(series_key(labels))
        return None if series is None else series.state

    def no_data_firing(self, labels: Mapping[str, str]) -> bool:
        """Return whether the no-data alert of the series with ``labels`` fires."""
        series = self._series.get(series_key(labels))
        return series is not None and series.no_data

    def series_counts(self) -> SeriesCounts:
        """Return how many series there are, were forgotten and refused, in O(1)."""
        idle = self._idle
        forgotten = 0 if idle is None else idle.forgotten
        return SeriesCounts(len(self._series), forgotten, self._cap.refused)

    def stats(self) -> EvaluationStats:
        """Return the evaluation's counters now."""
        states = [series.state for series in self._series.values()]
        return EvaluationStats(
            samples=self._samples,
            out_of_order=self._out_of_order,
            duplicates=self._duplicates,
            too_far_ahead=self._too_far_ahead,
            series=len(self._series),
            pending=states.count(SeriesState.PENDING),
            firing=states.count(_FIRING),
            no_data_firing=sum(1 for series in self._series.values() if series.no_data),
            condition_errors=self._condition_errors,
            template_errors=self._events.template_errors,
            errors_suppressed=self._events.errors_suppressed,
            series_forgotten=0 if self._idle is None else self._idle.forgotten,
            over_series_limit=self._cap.refused,
        )

    # -- the steps ------------------------------------------------------------------------

    def _advance(self, now: float) -> float:
        if now > self._now:
            self._now = now
        return self._now

    def _expire(self, now: float, events: list[AlertEvent]) -> None:
        idle = self._idle
        if idle is not None and now >= idle.next_at:
            self._sweep(now)
        for series in self._deadlines.pop_due(now):
            deadline = series.deadline
            transition = expire(series, now)
            if transition is _FIRED:
                self._events.fire(events, series, False, now)
            elif transition is _RESOLVED_NOW and deadline is not None:
                events.append(self._events.resolved(series, False, series.value, deadline))
        if self._silence is not None:
            timeout = self._silence.timeout
            for series in self._silence.pop_silent(now):
                series.no_data = True
                self._events.fire(events, series, True, now, series.last_seen + timeout)

    def _sweep(self, now: float) -> None:
        # Before the deadlines: a series they change is not inactive anyway.
        cast(IdleSweep, self._idle).sweep(self._series, now, self._silence, self._unclaimed)

    def _observe(self, series: Series, active: bool, now: float, events: list[AlertEvent]) -> None:
        before = series.deadline
        transition = observe(series, active, now, self._for, self._keep_firing_for)
        if transition is _FIRED:
            self._events.fire(events, series, False, now)
        elif transition is _RESOLVED_NOW:
            events.append(self._events.resolved(series, False, series.value, now))
        elif series.deadline is not None and series.deadline != before:
            self._deadlines.schedule(series)

    def _count_dropped(self, series: Series, timestamp: float, horizon: float) -> None:
        if timestamp > horizon:
            self._too_far_ahead += 1
        elif timestamp == series.newest:
            self._duplicates += 1
        else:
            self._out_of_order += 1

    # -- series -----------------------------------------------------------------------------

    def _new_series(self, key: SeriesKey, labels: Mapping[str, str]) -> Series | None:
        # The sample loops' new-series branch: the only place the cap is checked.
        # _make_series inlined: one call less per new series.
        if len(self._series) >= self._cap.limit:
            self._cap.refuse()
            return None
        series = Series(key, dict(labels), self._new_windows())
        self._series[key] = series
        return series

    def _make_series(self, key: SeriesKey, labels: Mapping[str, str]) -> Series:
        series = Series(key, dict(labels), self._new_windows())
        self._series[key] = series
        return series

    def _add_series(self, key: SeriesKey, labels: Mapping[str, str]) -> Series | None:
        series = self._new_series(key, labels)
        if series is not None and self._unclaimed_fingerprints:
            self._adopt(series)
        return series

    def _claim(self, series: Series) -> None:
        # A restored series sent its first sample under the key it was restored with.
        self._unclaimed.pop(series.key, None)
        for identity in (series.alert_identity, series.no_data_identity):
            if identity is not None:
                self._unclaimed_fingerprints.pop(identity[1], None)

    def _adopt(self, series: Series) -> None:
        # A new series whose alert was restored under labels that could not be rebuilt
        # exactly (a rule label hid a series label of the same name): it takes over the
        # restored state, matched by fingerprint.
        for no_data in (False, True):
            _, print_ = self._events.identity(series, no_data)
            restored = self._unclaimed_fingerprints.pop(print_, None)
            if restored is None or restored is series:
                continue
            if no_data:
                series.no_data = True
                series.no_data_identity = restored.no_data_identity
                restored.no_data = False
            else:
                series.state = _FIRING
                series.since = restored.since
                series.value = restored.value
                series.alert_identity = restored.alert_identity
                restored.state = _INACTIVE
            if restored.state is not _FIRING and not restored.no_data:
                self._series.pop(restored.key, None)
                self._unclaimed.pop(restored.key, None)
                if self._silence is not None:
                    self._silence.forget(restored)
