"""Silences: the record of one, and the registry that starts, ends and forgets them."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from actors.alerting._errors import IllegalTransition, InvalidSilence, SilenceNotFound
from messages import CreateSilence, LabelMatcher, SilenceStatus, SilenceSummary

__all__ = ["Silence", "SilenceRegistry"]


@dataclass(slots=True, eq=False)
class Silence:
    """Mute the open alerts whose labels satisfy every matcher, from start to end.

    ``applied`` says whether the book currently counts the silence as muting and
    ``ended`` whether the book has ended it (both move with the book's clock, in
    ``AlertBook.tick``); ``status`` is computed from the times. An operator ends it
    early with ``expired_by``/``expired_at``/``expire_comment``.
    """

    silence_id: str
    number: int
    matchers: tuple[LabelMatcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    created_at: float
    comment: str = ""
    expired_by: str | None = None
    expired_at: float | None = None
    expire_comment: str | None = None
    applied: bool = False
    ended: bool = False
    ended_order: int | None = None
    """The registry's count of ended silences when this one ended (None: not ended, or
    ended before the order was kept): which ended silence is the oldest, to forget."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Return whether ``labels`` satisfies every matcher."""
        return all(matcher.matches(labels) for matcher in self.matchers)

    def status(self, now: float) -> SilenceStatus:
        """Return PENDING before the start, ACTIVE until the end, EXPIRED after."""
        if self.expired_at is not None or now >= self.ends_at:
            return SilenceStatus.EXPIRED
        if now < self.starts_at:
            return SilenceStatus.PENDING
        return SilenceStatus.ACTIVE

    def event_payload(self, **extra: Any) -> dict[str, Any]:
        """Return the payload every silence event carries, plus ``extra``."""
        return {
            "silence_id": self.silence_id,
            "matchers": [str(matcher) for matcher in self.matchers],
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "created_by": self.created_by,
            **extra,
        }

    def summary(self, now: float) -> SilenceSummary:
        """Return the silence as ``SilenceSummary``, its status as of ``now``."""
        return SilenceSummary(
            silence_id=self.silence_id,
            matchers=self.matchers,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            created_by=self.created_by,
            created_at=self.created_at,
            comment=self.comment,
            status=self.status(now),
            expired_by=self.expired_by,
            expired_at=self.expired_at,
            expire_comment=self.expire_comment,
        )

    def to_document(self) -> dict[str, Any]:
        """Return the JSON object stored in the ``silences`` collection."""
        return {
            "silence_id": self.silence_id,
            "number": self.number,
            "matchers": [matcher.model_dump(mode="json") for matcher in self.matchers],
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "comment": self.comment,
            "expired_by": self.expired_by,
            "expired_at": self.expired_at,
            "expire_comment": self.expire_comment,
            "applied": self.applied,
            "ended": self.ended,
            "ended_order": self.ended_order,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Silence:
        """Rebuild a silence from ``to_document``'s output."""
        return cls(
            silence_id=document["silence_id"],
            number=int(document["number"]),
            matchers=tuple(LabelMatcher.model_validate(m) for m in document["matchers"]),
            starts_at=float(document["starts_at"]),
            ends_at=float(document["ends_at"]),
            created_by=document["created_by"],
            created_at=float(document["created_at"]),
            comment=document["comment"],
            expired_by=document["expired_by"],
            expired_at=document["expired_at"],
            expire_comment=document.get("expire_comment"),  # None before it was kept
            applied=bool(document["applied"]),
            ended=bool(document["ended"]),
            ended_order=_optional_int(document.get("ended_order")),  # absent before it was kept
        )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _ended_first(silence: Silence) -> tuple[int, float, int]:
    # The order silences ended in: kept since ended_order was, else guessed from the
    # time they ended and then their number (those ended before any that kept it).
    if silence.ended_order is not None:
        return (1, float(silence.ended_order), 0)
    ended_at = silence.expired_at if silence.expired_at is not None else silence.ends_at
    return (0, ended_at, silence.number)


class SilenceRegistry:
    """Own the silences: create, expire, start and end them by time; no alerts here.

    ``AlertBook`` applies what this decides to the alerts. A silence is *live* from
    creation until it ends (reaches ``ends_at`` or is expired early); ended silences
    stay listed until ``max_ended`` newer ones push them out, and are then forgotten
    (their document deleted; the history keeps their events).
    """

    def __init__(self, *, max_ended: int = 1_000) -> None:
        self._all: dict[str, Silence] = {}
        self._live: dict[str, Silence] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()  # in the order they ended
        self._ended_count = 0
        self._max_ended = max_ended
        self.next_number = 1
        self.dirty: dict[str, Silence | None] = {}

    def restore(self, documents: Mapping[str, Mapping[str, Any]]) -> None:
        """Load the silences ``to_document`` wrote."""
        silences = sorted(
            (Silence.from_document(doc) for doc in documents.values()), key=lambda s: s.number
        )
        for silence in silences:
            self._all[silence.silence_id] = silence
            self.next_number = max(self.next_number, silence.number + 1)
            if not silence.ended:
                self._live[silence.silence_id] = silence
        # Ended ones in the order they ended, not by number: the oldest ended is the one
        # forgotten next, as in the book that wrote them.
        for silence in sorted((s for s in silences if s.ended), key=_ended_first):
            self._ended[silence.silence_id] = None
            if silence.ended_order is not None:
                self._ended_count = max(self._ended_count, silence.ended_order)

    def get(self, silence_id: str) -> Silence:
        """Return the silence with this id; raise SilenceNotFound."""
        silence = self._all.get(silence_id)
        if silence is None:
            raise SilenceNotFound(silence_id)
        return silence

    def listing(self, now: float, *, include_expired: bool) -> list[Silence]:
        """Return the silences, oldest first; the expired ones only if asked."""
        return [
            s
            for s in self._all.values()
            if include_expired or s.status(now) is not SilenceStatus.EXPIRED
        ]

    def applied(self) -> list[Silence]:
        """Return the silences muting alerts now, oldest first."""
        return [s for s in self._live.values() if s.applied]

    def create(self, command: CreateSilence, now: float) -> Silence:
        """Record a new silence (not applied yet); raise InvalidSilence if already over."""
        if command.ends_at <= now:
            raise InvalidSilence(f"ends_at {command.ends_at} is not after now ({now})")
        number = self.next_number
        self.next_number += 1
        silence = Silence(
            silence_id=f"silence-{number}",
            number=number,
            matchers=command.matchers,
            starts_at=command.starts_at,
            ends_at=command.ends_at,
            created_by=command.created_by,
            created_at=now,
            comment=command.comment,
        )
        self.add(silence)
        return silence

    def add(self, silence: Silence) -> None:
        """Register a new live silence (``create``'s, or a replayed one)."""
        self._all[silence.silence_id] = silence
        self._live[silence.silence_id] = silence
        self.dirty[silence.silence_id] = silence
        self.next_number = max(self.next_number, silence.number + 1)

    def expire(self, silence_id: str, by: str, comment: str, now: float) -> Silence:
        """Mark a live silence expired by ``by``; raise SilenceNotFound or IllegalTransition.

        The caller then unapplies it and calls ``end``.
        """
        silence = self.get(silence_id)
        if silence_id not in self._live or silence.status(now) is SilenceStatus.EXPIRED:
            raise IllegalTransition(f"silence {silence_id!r}", "expired", "expire")
        silence.expired_by = by
        silence.expired_at = now
        silence.expire_comment = comment
        self.dirty[silence_id] = silence
        return silence

    def due(self, now: float) -> tuple[list[Silence], list[Silence]]:
        """Return (silences to start, silences to end) at ``now``, oldest first."""
        starting: list[Silence] = []
        ending: list[Silence] = []
        for silence in self._live.values():
            status = silence.status(now)
            if status is SilenceStatus.EXPIRED:
                ending.append(silence)
            elif status is SilenceStatus.ACTIVE and not silence.applied:
                starting.append(silence)
        return starting, ending

    def mark_applied(self, silence: Silence) -> None:
        """Record that the book now mutes alerts with ``silence``."""
        silence.applied = True
        self.dirty[silence.silence_id] = silence

    def end(self, silence: Silence) -> None:
        """Record that ``silence`` is over, and forget the oldest ended ones past the bound."""
        self._live.pop(silence.silence_id, None)
        silence.applied = False
        silence.ended = True
        self._ended_count += 1
        silence.ended_order = self._ended_count
        self.dirty[silence.silence_id] = silence
        self._ended[silence.silence_id] = None
        while len(self._ended) > self._max_ended:
            old_id, _ = self._ended.popitem(last=False)
            del self._all[old_id]
            self.dirty[old_id] = None

    def next_change(self) -> float | None:
        """Return when ``due`` next has something to do (epoch seconds), or None."""
        times = [s.ends_at if s.applied else s.starts_at for s in self._live.values()]
        return min(times) if times else None

    def has_live(self) -> bool:
        """Return True if any silence is pending or active."""
        return bool(self._live)
