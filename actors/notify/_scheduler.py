"""DeliveryScheduler: what a notifier sends next, and what follows each outcome.

The notifier actor feeds it notifications and send results and performs the sends it
returns; every decision (ordering, rate limit, circuit breaker, batching, retries, age
limit) is made here, synchronously, with time passed in (STYLE rule 1).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Mapping

from actors.notify._channel import DeliveryError
from actors.notify._circuit import CircuitBreaker, CircuitState
from actors.notify._delivery import DeadLettered, Delivery, Retrying, Send, _Unit
from actors.notify._retry import GiveUp, RetryPolicy
from actors.notify._scheduler_timing import ScheduleTiming
from actors.notify._token_bucket import TokenBucket
from messages import Notification

__all__ = ["DeadLettered", "Delivery", "DeliveryScheduler", "Retrying", "Send"]

_EPSILON = 1e-9


class DeliveryScheduler(ScheduleTiming):
    """Order, throttle, batch and retry one receiver's deliveries.

    Ordering: deliveries of the same alert (same fingerprint) are sent one at a time in
    arrival order: a later one waits while an earlier one is in flight or waiting to be
    retried. Different alerts do not wait for each other beyond ``max_in_flight``
    concurrent sends, and start in arrival order.

    Each send takes one token from ``bucket`` (None: no rate limit) and needs ``breaker``
    to allow it. When the bucket holds fewer tokens than there are deliveries ready,
    fresh deliveries (never tried) of different alerts go together, up to ``batch_max``
    per send; a batch that fails is retried as the same batch. Nothing is ever dropped:
    a delivery leaves only as delivered or as a dead letter (``policy`` gave up, or it
    waited ``policy.max_age`` without being sent, e.g. behind an open circuit).

    Call ``due(now)`` after anything changed and perform the returned sends; report each
    with ``completed`` or ``failed``; call ``expire(now)``; then ``wake_at(now)`` says
    when to call again (None: only when something new happens).
    """

    def __init__(
        self,
        *,
        policy: RetryPolicy,
        breaker: CircuitBreaker,
        bucket: TokenBucket | None = None,
        max_in_flight: int = 1,
        batch_max: int = 1,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        if batch_max < 1:
            raise ValueError(f"batch_max must be >= 1, got {batch_max}")
        self.policy = policy
        self.breaker = breaker
        self.bucket = bucket
        self.max_in_flight = max_in_flight
        self.batch_max = batch_max
        self._seq = itertools.count()
        self._by_key: dict[str, Delivery] = {}
        self.queued: Mapping[str, Delivery] = self._by_key
        """The queued deliveries by key (read only): ``key in queued`` is ``key in self``
        without a method call, for a caller that asks it of every notification."""
        # Each alert's lane: the delivery at its head, and those waiting behind it (only
        # for alerts that have some: most lanes hold one delivery, and a deque each
        # was an allocation of half a kilobyte per notification).
        self._heads: dict[str, Delivery] = {}
        self._behind: dict[str, deque[Delivery]] = {}
        # Heap entries carry a unique tie-breaker so that units are never compared; stale
        # entries (a unit moved on) are skipped when they surface. The ready units and
        # the deadlines are each a heap and a FIFO: an entry that sorts after the FIFO's
        # last goes there (new deliveries, in arrival order, which is almost all of them),
        # others to the heap, and the earlier of the two heads comes first. A deque's
        # popleft is a fraction of a heappop over a thousand queued deliveries.
        self._tie = itertools.count()
        self._ready: list[tuple[int, int, _Unit]] = []
        self._ready_fifo: deque[tuple[int, int, _Unit]] = deque()
        self._ready_live = 0
        self._delayed: list[tuple[float, int, _Unit]] = []
        self._deadlines: list[tuple[float, int, _Unit]] = []
        self._deadline_fifo: deque[tuple[float, int, _Unit]] = deque()
        self.in_flight = 0
        """Sends started and not yet reported."""
        self.resume_at = -math.inf
        """Nothing starts before this: the receiver's last ``Retry-After`` asked it."""

    def __len__(self) -> int:
        """Return how many deliveries are queued (waiting or in flight)."""
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    # -- input ---------------------------------------------------------------------------

    def add(
        self,
        notification: Notification,
        key: str,
        now: float,
        *,
        age: float = 0.0,
        attempts: int = 0,
        recorded: bool = False,
    ) -> Delivery | None:
        """Queue ``notification`` under ``key``; return None if ``key`` is already queued.

        ``age``/``attempts``: what a delivery reloaded from the outbox has behind it.
        Only ``recorded`` deliveries are sent: call ``recorded`` once it is durable.
        """
        if key in self._by_key:
            return None
        seq = next(self._seq)
        since = now - age
        delivery = Delivery(notification, key, seq, since, attempts, recorded)
        unit = _Unit([delivery], seq, since, attempts)
        delivery.unit = unit
        self._by_key[key] = delivery
        fingerprint = notification.fingerprint
        heads = self._heads
        first = fingerprint not in heads
        if first:
            heads[fingerprint] = delivery
        else:
            behind = self._behind.get(fingerprint)
            if behind is None:
                behind = self._behind[fingerprint] = deque()
            behind.append(delivery)
        # _push_deadline, inline: a new delivery's deadline is almost always the latest.
        entry = (since + self.policy.max_age, next(self._tie), unit)
        fifo = self._deadline_fifo
        if not fifo or fifo[-1] < entry:
            fifo.append(entry)
        else:
            heapq.heappush(self._deadlines, entry)
        if recorded and first:
            self._enqueue(unit, now)
        return delivery

    def recorded(self, delivery: Delivery, now: float) -> None:
        """Mark ``delivery`` durable: it may be sent from now on."""
        if delivery.recorded or delivery.key not in self._by_key:
            return
        delivery.recorded = True
        self._maybe_eligible(delivery, now)

    # -- decisions -----------------------------------------------------------------------

    def due(self, now: float) -> list[Send]:
        """Return the sends to start at ``now`` (tokens taken, in-flight counted)."""
        self._promote(now)
        sends: list[Send] = []
        bucket = self.bucket
        breaker = self.breaker
        if now < self.resume_at:
            return sends
        if bucket is None and breaker.state is CircuitState.CLOSED:
            # The common case: nothing but the slots limits what starts, and a closed
            # circuit stays closed (allow) until a result comes back.
            while self._ready_live and self.in_flight < self.max_in_flight:
                unit = self._pop_ready()
                unit.in_flight = True
                self.in_flight += 1
                sends.append(Send(unit, False))
            return sends
        while self._ready_live and self.in_flight < self.max_in_flight:
            if bucket is not None and bucket.wait_time(now) > 0:
                break
            if not breaker.allow(now):
                break
            unit = self._pop_ready()
            if bucket is not None:
                bucket.take(now)
            probe = breaker.state is CircuitState.HALF_OPEN
            if not probe and self.batch_max > 1 and bucket is not None:
                self._merge(unit, now, bucket)
            unit.in_flight = True
            self.in_flight += 1
            sends.append(Send(unit, probe))
        return sends

    # -- outcomes ------------------------------------------------------------------------

    def completed(self, send: Send, now: float) -> tuple[Delivery, ...]:
        """Record that ``send`` succeeded; return its deliveries (now delivered)."""
        unit = self._settle(send)
        self.breaker.record_success(now)
        items = unit.items
        if len(items) == 1 and unit.where is None:
            # _finish for the common case: one delivery, the head of its alert's lane,
            # queued nowhere else; the lane's next delivery, if any, may go now.
            [item] = items
            fingerprint = item.notification.fingerprint
            heads = self._heads
            if heads[fingerprint] is item:
                unit.done = True
                item.unit = None  # see _finish
                del self._by_key[item.key]
                behind = self._behind.get(fingerprint)
                if behind is None:
                    del heads[fingerprint]
                else:
                    heads[fingerprint] = head = behind.popleft()
                    if not behind:
                        del self._behind[fingerprint]
                    self._maybe_eligible(head, now)
                return send.items
        self._finish(unit, now)
        return send.items

    def failed(self, send: Send, error: DeliveryError, now: float) -> Retrying | DeadLettered:
        """Record that ``send`` failed with ``error``; return what happens next.

        An error with ``retry_after``, or a permanent one, proves the receiver answered:
        it closes the circuit rather than counting towards opening it.
        """
        unit = self._settle(send)
        for item in unit.items:
            item.error = str(error)
        if error.retryable and error.retry_after is None:
            self.breaker.record_failure(now)
        else:
            self.breaker.record_success(now)
        if error.retry_after is not None:
            # A Retry-After (Slack's 429, a 503) speaks for the receiver, not for one
            # notification: nothing else goes before it either, or every queued
            # notification would hit the same limit at once (a request storm).
            self.resume_at = max(self.resume_at, now + max(0.0, error.retry_after))
        decision = self.policy.decide(error, unit.attempts, now - unit.since)
        if isinstance(decision, GiveUp):
            self._finish(unit, now)
            return DeadLettered(send.items, unit.attempts, decision.reason)
        unit.not_before = now + decision.delay
        self._enqueue(unit, now)
        self._push_deadline(unit)
        return Retrying(send.items, unit.attempts, decision.delay, error)

    # -- internals -----------------------------------------------------------------------

    def _settle(self, send: Send) -> _Unit:
        unit = send._unit
        if not unit.in_flight:
            raise ValueError(f"{send!r} is not in flight")
        unit.in_flight = False
        self.in_flight -= 1
        unit.attempts += 1
        for item in unit.items:
            item.attempts = unit.attempts
        return unit

    def _enqueue(self, unit: _Unit, now: float) -> None:
        if unit.not_before > now:
            unit.where = "delayed"
            heapq.heappush(self._delayed, (unit.not_before, next(self._tie), unit))
        else:
            unit.where = "ready"
            self._ready_live += 1
            entry = (unit.seq, next(self._tie), unit)
            fifo = self._ready_fifo
            if not fifo or fifo[-1] < entry:
                fifo.append(entry)
            else:
                heapq.heappush(self._ready, entry)

    def _promote(self, now: float) -> None:
        delayed = self._delayed
        while delayed and delayed[0][0] <= now:
            _, _, unit = heapq.heappop(delayed)
            if unit.where == "delayed":
                self._enqueue(unit, now)

    def _pop_ready(self) -> _Unit:
        # Only called with a live ready unit queued (``_ready_live``).
        heap, fifo = self._ready, self._ready_fifo
        while True:
            if fifo and (not heap or fifo[0] < heap[0]):
                _, _, unit = fifo.popleft()
            else:
                _, _, unit = heapq.heappop(heap)
            if unit.where == "ready":
                unit.where = None
                self._ready_live -= 1
                return unit

    def _unqueue(self, unit: _Unit) -> None:
        # Heaps drop stale entries lazily; only the live count must be right at once.
        if unit.where == "ready":
            self._ready_live -= 1
        unit.where = None

    def _merge(self, unit: _Unit, now: float, bucket: TokenBucket) -> None:
        if unit.attempts or len(unit.items) != 1:
            return
        spare = math.floor(bucket.available(now) + _EPSILON)
        set_aside: list[_Unit] = []
        while self._ready_live > spare and len(unit.items) < self.batch_max:
            other = self._pop_ready()
            if other.attempts or len(other.items) != 1:
                set_aside.append(other)  # a retry keeps its own batch and key
                continue
            [item] = other.items
            other.done = True
            item.unit = unit
            unit.items.append(item)
            unit.since = min(unit.since, other.since)
        for other in set_aside:
            self._enqueue(other, now)

    def _maybe_eligible(self, delivery: Delivery, now: float) -> None:
        unit = delivery.unit
        if unit is None or unit.done or unit.in_flight or unit.where is not None:
            return
        items = unit.items
        heads = self._heads
        if len(items) == 1:  # the common case, without two generators
            [item] = items
            if item.recorded and heads[item.notification.fingerprint] is item:
                self._enqueue(unit, now)
            return
        if not all(item.recorded for item in items):
            return
        if all(heads[item.notification.fingerprint] is item for item in items):
            self._enqueue(unit, now)

    def _finish(self, unit: _Unit, now: float) -> None:
        self._unqueue(unit)
        unit.done = True
        head_of, behinds = self._heads, self._behind
        moved_up: list[Delivery] = []
        for item in unit.items:
            # A delivery and its unit refer to each other: without this, every finished
            # one (and its notification) would wait for the cyclic garbage collector,
            # which then traversed them once or twice more: ~10% of a webhook
            # notification's CPU on the event loop.
            item.unit = None
            del self._by_key[item.key]
            fingerprint = item.notification.fingerprint
            behind = behinds.get(fingerprint)
            if head_of[fingerprint] is item:
                if behind is None:
                    del head_of[fingerprint]
                else:
                    head_of[fingerprint] = head = behind.popleft()
                    moved_up.append(head)
            else:
                assert behind is not None
                behind.remove(item)  # expired behind an earlier delivery of the same alert
            if behind is not None and not behind:
                del behinds[fingerprint]
        for head in moved_up:
            self._maybe_eligible(head, now)
