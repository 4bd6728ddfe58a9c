"""Escalation policies: who is notified, and when, while an alert stays unacknowledged.

PagerDuty/Opsgenie semantics as a plain synchronous class that takes time as an argument:
ordered levels, each notified ``after`` seconds without acknowledgement, optionally looping
through the levels again ``repeat`` times; acknowledgement or resolution stops it.

Timing (chosen, and the same everywhere): a level's ``after`` counts from the moment the
previous level was notified (for the first level of the first loop: from ``start``), so
every level's receivers get the full ``after`` of the next level to acknowledge before it
is paged.  The first level of a later loop waits ``repeat_after`` after the last level
(default: the first level's own ``after``).  "Notified" means when ``due`` returned the
step: a step decided late (a slow loop, or a restart after downtime) fires once, and the
next level's delay counts from then; missed levels are never replayed in a burst.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "EscalationAlreadyStarted",
    "EscalationLevel",
    "EscalationPolicy",
    "EscalationStateInvalid",
    "EscalationStep",
    "EscalationTracker",
]

_DOC_VERSION = 1
_COMPACT_SLACK = 32

_Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
_Receiver = Annotated[str, Field(min_length=1)]


class EscalationAlreadyStarted(ValueError):
    """Raised by ``start`` for an alert whose escalation is already running."""


class EscalationStateInvalid(ValueError):
    """Raised by ``restore`` for a document it cannot read; the message names the alert."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EscalationLevel(_Model):
    """Notify ``receivers`` once ``after`` seconds passed since the previous level."""

    after: _Seconds = 0.0
    receivers: Annotated[tuple[_Receiver, ...], Field(min_length=1)]


class EscalationPolicy(_Model):
    """Name an ordered list of levels; loop through them ``1 + repeat`` times in all.

    ``repeat_after``: seconds between the last level of a loop and the first level of
    the next one; when unset, the first level's ``after`` (which must then be > 0 if
    ``repeat`` > 0, or the loops would follow each other instantly).
    """

    name: Annotated[str, Field(min_length=1)]
    levels: Annotated[tuple[EscalationLevel, ...], Field(min_length=1)]
    repeat: Annotated[int, Field(ge=0)] = 0
    repeat_after: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def _loops_do_not_spin(self) -> Self:
        if self.repeat and self.repeat_after is None and self.levels[0].after == 0:
            raise ValueError(
                "repeat_after is required when repeat > 0 and the first level's after is 0"
            )
        return self

    @property
    def steps(self) -> int:
        """Return the number of notifications a never-acknowledged alert gets."""
        return len(self.levels) * (self.repeat + 1)

    def delay(self, step: int) -> float:
        """Return the seconds step ``step`` waits after the previous one (or the start)."""
        loop, level = divmod(step, len(self.levels))
        if level == 0 and loop > 0 and self.repeat_after is not None:
            return self.repeat_after
        return self.levels[level].after


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """Notify ``receivers``: level ``level`` (from 0) of loop ``loop`` (from 0) is due.

    ``at`` is when it was due (<= the ``now`` given to ``due``); ``last`` says the
    escalation has run its course with this step (the tracker has forgotten it).
    """

    alert_id: str
    policy: str
    level: int
    loop: int
    receivers: tuple[str, ...]
    at: float
    last: bool


class _Escalation:
    __slots__ = ("anchor", "policy", "started_at", "step", "token")

    def __init__(self, policy: EscalationPolicy, step: int, anchor: float, started: float) -> None:
        self.policy = policy
        self.step = step  # the next step to notify
        self.anchor = anchor  # when the previous step was notified, or the start
        self.started_at = started
        self.token = 0

    @property
    def deadline(self) -> float:
        return self.anchor + self.policy.delay(self.step)

    def document(self) -> dict[str, Any]:
        return {
            "v": _DOC_VERSION,
            "policy": self.policy.model_dump(mode="json"),
            "step": self.step,
            "anchor": self.anchor,
            "started_at": self.started_at,
        }


class _Document(_Model):
    v: Annotated[int, Field(ge=1, le=_DOC_VERSION)]
    policy: EscalationPolicy
    step: Annotated[int, Field(ge=0)]
    anchor: float
    started_at: float


class EscalationTracker:
    """Track running escalations and say which level of which alert is due when.

    ``start`` when an alert opens (with the policy its route names), ``acknowledge`` or
    ``resolve`` when it is; arm a timer for ``next_deadline()`` and call ``due(now)`` when
    it expires; persist ``document(alert_id)`` for each alert a call touched (or
    ``export()`` everything) and ``restore`` it after a restart.  A running escalation
    keeps the policy it started with, even if the configuration changes.
    """

    def __init__(self) -> None:
        self._running: dict[str, _Escalation] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._counter = 0
        self._stale = 0

    def __len__(self) -> int:
        """Return the number of running escalations."""
        return len(self._running)

    def __contains__(self, alert_id: object) -> bool:
        """Return whether an escalation is running for ``alert_id``."""
        return alert_id in self._running

    def policy(self, alert_id: str) -> EscalationPolicy | None:
        """Return the policy of ``alert_id``'s running escalation, None if none runs."""
        escalation = self._running.get(alert_id)
        return None if escalation is None else escalation.policy

    def start(self, alert_id: str, policy: EscalationPolicy, now: float) -> None:
        """Start escalating ``alert_id`` at ``now``: its first level is due ``after`` later.

        Raises ``EscalationAlreadyStarted`` if one is running for it (a reopened alert
        is a new occurrence with its own id).
        """
        if alert_id in self._running:
            raise EscalationAlreadyStarted(f"escalation of alert {alert_id!r} already running")
        self._put(alert_id, _Escalation(policy, 0, now, now))

    def acknowledge(self, alert_id: str) -> bool:
        """Stop escalating ``alert_id``; return whether one was running."""
        return self._stop(alert_id)

    def resolve(self, alert_id: str) -> bool:
        """Stop escalating ``alert_id``; return whether one was running."""
        return self._stop(alert_id)

    def due(self, now: float) -> list[EscalationStep]:
        """Return the steps due at or before ``now``, in deadline order, and advance.

        A step is returned exactly once.  The next level's delay counts from ``now``
        (when this step is notified), so a late call never yields a burst of levels;
        levels with ``after = 0`` come in the same call as the level before them.
        """
        steps: list[EscalationStep] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, token, alert_id = heapq.heappop(heap)
            escalation = self._running.get(alert_id)
            if escalation is None or escalation.token != token:
                self._stale -= 1
                continue
            policy = escalation.policy
            loop, level = divmod(escalation.step, len(policy.levels))
            last = escalation.step + 1 >= policy.steps
            steps.append(
                EscalationStep(
                    alert_id=alert_id,
                    policy=policy.name,
                    level=level,
                    loop=loop,
                    receivers=policy.levels[level].receivers,
                    at=deadline,
                    last=last,
                )
            )
            if last:
                del self._running[alert_id]
            else:
                escalation.step += 1
                escalation.anchor = now
                self._push(alert_id, escalation)
        return steps

    def next_deadline(self) -> float | None:
        """Return when the next step is due, or None if no escalation is running."""
        heap = self._heap
        while heap:
            _deadline, token, alert_id = heap[0]
            escalation = self._running.get(alert_id)
            if escalation is not None and escalation.token == token:
                return heap[0][0]
            heapq.heappop(heap)
            self._stale -= 1
        return None

    def document(self, alert_id: str) -> dict[str, Any] | None:
        """Return the state document of ``alert_id``'s escalation; None: delete it.

        JSON-ready (str keys, numbers, lists); ``restore`` reads it back exactly.
        """
        escalation = self._running.get(alert_id)
        return None if escalation is None else escalation.document()

    def export(self) -> dict[str, dict[str, Any]]:
        """Return alert id -> state document for every running escalation."""
        return {alert_id: escalation.document() for alert_id, escalation in self._running.items()}

    def restore(self, docs: Mapping[str, Mapping[str, Any]], now: float) -> None:
        """Add (or replace) the escalations of ``docs``, as ``export`` returned them.

        Positions come back exactly: a step due while the process was down is due at
        the first ``due`` call, once.  A document dated after ``now`` (the clock went
        back) counts from ``now``.  Raises ``EscalationStateInvalid`` naming the first
        bad document; nothing is restored then.
        """
        restored: dict[str, _Escalation] = {}
        for alert_id, doc in docs.items():
            try:
                parsed = _Document.model_validate(doc)
            except ValidationError as exc:
                raise EscalationStateInvalid(f"escalation of alert {alert_id!r}: {exc}") from None
            if parsed.step >= parsed.policy.steps:
                raise EscalationStateInvalid(
                    f"escalation of alert {alert_id!r}: step {parsed.step} is past the "
                    f"policy's {parsed.policy.steps} steps"
                )
            anchor = min(parsed.anchor, now)
            restored[alert_id] = _Escalation(parsed.policy, parsed.step, anchor, parsed.started_at)
        for alert_id, escalation in restored.items():
            self._stop(alert_id)
            self._put(alert_id, escalation)

    def _put(self, alert_id: str, escalation: _Escalation) -> None:
        self._running[alert_id] = escalation
        self._push(alert_id, escalation)

    def _push(self, alert_id: str, escalation: _Escalation) -> None:
        self._counter += 1
        escalation.token = self._counter
        heapq.heappush(self._heap, (escalation.deadline, self._counter, alert_id))

    def _stop(self, alert_id: str) -> bool:
        if self._running.pop(alert_id, None) is None:
            return False
        self._stale += 1
        if self._stale > _COMPACT_SLACK and self._stale * 2 > len(self._heap):
            # Lazy invalidation leaves stopped entries behind; rebuild past half, in place.
            self._heap[:] = [(e.deadline, e.token, a) for a, e in self._running.items()]
            heapq.heapify(self._heap)
            self._stale = 0
        return True
