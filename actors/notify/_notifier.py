"""Notifier: the actor that delivers one receiver's notifications, at least once.

The decisions are the ``DeliveryScheduler``'s; this actor records, sends, reports. Its
base classes hold the rest: ``NotifierOutcomes`` (actors/notify/_notifier_outcomes.py)
records retries and dead letters and tells the receipts; ``NotifierOperations``
(actors/notify/_notifier_operations.py) answers the dead-letter and status requests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import random
from typing import Any

from actors.notify._channel import Channel, DeliveryError
from actors.notify._config import DeliveryPolicy
from actors.notify._delivered_marks import DeliveredMarks, load_delivered
from actors.notify._notifier_operations import NotifierOperations
from actors.notify._notifier_outcomes import NotifierOutcomes
from actors.notify._outbox import (
    OutboxRecord,
    load_batched_records,
    load_outbox,
    outbox_key,
)
from actors.notify._outbox_writer import OutboxWriter
from actors.notify._receipts import ReceiptSink, ReceiptsTarget
from actors.notify._requests import GetNotifierStatus, ListDeadLetters, ReplayDeadLetter
from actors.notify._scheduler import Delivery, Retrying, Send
from actors.store import Store
from messages import DeliveryReceipt, Notification

__all__ = ["Notifier"]

_WAKE = "wake"


@dataclasses.dataclass(frozen=True, slots=True)
class _Completions:
    """Outbox appends or sends finished: they wait in ``_written`` and ``_results``."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Wake:
    incarnation: object


class Notifier(NotifierOutcomes, NotifierOperations):
    """Deliver one receiver's notifications through its ``Channel``, at least once.

    Tell it ``Notification``s. Each one is recorded in the store's outbox first, and
    only sent once that is durable; then it goes out when the rate limit, the circuit
    breaker and its alert's order allow, and is retried on retryable failures with
    backoff (the actor's timers, so the injected clock drives it). Delivered: its
    document is deleted and its key remembered (below). Given up on: it stays in the
    outbox as a dead letter, which ``ListDeadLetters`` lists and ``ReplayDeadLetter``
    sends again. Every outcome is a
    ``DeliveryReceipt`` for ``receipts`` (a ref, or a path/name looked up when
    needed; None: no receipts): ``failed`` after each failed attempt that will be
    retried, then ``delivered`` or ``dead_lettered``. The receipts of the outcomes
    that one message settles (a burst of send results, a wake-up that expires
    notifications) are told together, in order, as one ``DeliveryReceipts`` once the
    message is handled.

    Ordering: notifications about the same alert (fingerprint) are sent one at a time,
    in the order they arrived, each only after the previous one was delivered or dead;
    others go concurrently, up to the policy's ``max_in_flight``. Sends run as tasks
    the instance owns, so the actor keeps answering while they wait on the network;
    they are cancelled when it stops.

    At least once: on start (first start, restart, or a new process) it reloads its
    undelivered outbox documents and sends them again, with the same idempotency key.
    A notification whose id is already queued is ignored (a duplicate); one whose id
    is a dead letter replaces it. The keys of the last ``remember_delivered``
    deliveries are kept in the store too (``DeliveredMarks``: one document per append,
    in the append that deletes their outbox documents; 0: none; the new records of an
    append share one document while the marks are on, ``OutboxBatches``, and a
    delivery's mark is all it writes), and a notification
    whose id was delivered is ignored: a restarted alert manager that re-sends what it
    cannot know was sent (firing of open alerts, recent acknowledgements and
    resolutions) does not reach the receiver twice; only a delivery in flight at a
    crash (sent, not yet recorded) can. The ``store`` must be open while the actor runs. A
    channel that raises anything but ``DeliveryError`` is a bug: logged, and treated
    as a permanent failure (dead letter), so one poisonous notification cannot make
    the notifier crash in a loop. ``rng`` is the backoff jitter's source (seed it in
    tests). ``outbox_linger``: seconds the outbox writes nobody waits on (delivered
    marks, ...) may wait to share a transaction (``OutboxWriter``; 0: none); a crash
    meanwhile only repeats those deliveries, as one between a send and its mark does.
    """

    def __init__(
        self,
        receiver: str,
        channel: Channel,
        store: Store,
        *,
        policy: DeliveryPolicy | None = None,
        receipts: ReceiptsTarget = None,
        rng: random.Random | None = None,
        store_retry_for: float = 10.0,
        remember_delivered: int = 10_000,
        outbox_linger: float = 0.0,
    ) -> None:
        if remember_delivered < 0:  # as DeliveredMarks, which is made at each start
            raise ValueError(f"remember_delivered must be >= 0, not {remember_delivered}")
        self._remember_delivered = remember_delivered
        self.receiver = receiver
        self.channel = channel
        self._store = store
        self._policy = policy or DeliveryPolicy()
        self._receipts = ReceiptSink(receipts)
        # Receipts made while a message is handled wait here and go as one batch when
        # it is done: the receipts target (the alert manager) then handles a mailbox
        # message and adds history once per batch, not once per notification.
        self._receipts_due: list[DeliveryReceipt] = []
        self._handling = False
        self._rng = rng
        self._store_retry_for = store_retry_for
        self._outbox_linger = outbox_linger
        self._handlers: dict[type, Any] = {
            Notification: self._accept,
            _Completions: self._on_completions,
            _Wake: self._on_wake,
            ListDeadLetters: self._list_dead_letters,
            ReplayDeadLetter: self._replay,
            GetNotifierStatus: self._status,
        }

    # -- lifecycle ---------------------------------------------------------------------

    async def on_start(self) -> None:
        """Open the channel, reload the outbox, and start sending what it holds."""
        self._incarnation = object()
        self._clock = self.clock  # read on every message: one property chain fewer
        self._send_name = f"{self.path}:send"
        # Sends without a task where the channel can (StartSend); else awaited in one.
        self._start_send = getattr(self.channel, "start_send", None)
        self._scheduler = self._policy.scheduler(self._rng)
        self._records: dict[str, OutboxRecord] = {}
        self._dead: dict[str, OutboxRecord] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._results: list[tuple[Send, DeliveryError | None]] = []
        self._written: list[tuple[list[Delivery], bool]] = []
        self._wake_at: float | None = None
        self._delivered = 0
        self._failed_attempts = 0
        self._log = self.log.bind(receiver=self.receiver)
        await self.channel.open()
        try:
            snapshot = await self._store.load()
        except BaseException:
            await self.channel.close()
            raise
        delivered, problems = load_delivered(snapshot, self.receiver)
        for problem in problems:
            self._log.error("unreadable delivered marks skipped", problem=problem)
        records, problems = load_outbox(snapshot, self.receiver)
        # Before DeliveredMarks forgets any: the marks as stored say what was delivered.
        batches, more = load_batched_records(
            snapshot,
            self.receiver,
            delivered.keys,
            records,
            gather=self._remember_delivered > 0,  # entries are told delivered by their marks
        )
        for problem in problems + more:
            self._log.error("unreadable outbox document skipped", problem=problem)
        marks = DeliveredMarks(self.receiver, self._remember_delivered, delivered)
        self._delivered_keys = marks.remembered
        now, wall = self.clock.now(), self.clock.time()
        for record in records:
            if record.dead:
                self._dead[record.key] = record
                continue
            self._records[record.key] = record
            self._scheduler.add(
                record.notification,
                record.key,
                now,
                age=max(0.0, wall - record.recorded_at),
                attempts=record.attempts,
                recorded=True,
            )
        self._order = itertools.count(records[-1].order + 1 if records else 0)
        incarnation = self._incarnation
        self._writer = OutboxWriter(
            self._store,
            clock=self.clock,
            on_written=functools.partial(self._appended, incarnation),
            retry_for=self._store_retry_for,
            log=self._log,
            linger=self._outbox_linger,
            marks=marks,
            batches=batches,
        )
        await self._writer.compact_found()
        self._writer.start()
        if self._records or self._dead:
            self._log.info(
                "outbox reloaded", undelivered=len(self._records), dead_letters=len(self._dead)
            )
        self._pump()

    async def on_stop(self) -> None:
        """Cancel the sends under way, close the channel, persist what is queued."""
        self._incarnation = object()  # outcomes of sends begun by callback: not ours now
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        try:
            await self.channel.close()
        finally:
            await self._writer.close()

    async def on_receive(self, message: Any) -> Any:
        handler = self._handlers.get(type(message))
        if handler is None:
            return await super().on_receive(message)
        self._handling = True
        try:
            if self._written or self._results:
                # Completions first, whatever the message: they start the next sends,
                # which would otherwise wait behind every notification queued before
                # their _Completions (a burst of a thousand: tens of milliseconds).
                self._complete()
            return handler(message)
        finally:
            self._handling = False
            if self._receipts_due:
                self._tell_receipts()

    # -- notifications -----------------------------------------------------------------

    def _accept(self, notification: Notification) -> None:
        key = outbox_key(self.receiver, notification.id)
        if key in self._delivered_keys:
            self._log.debug("delivered notification ignored", notification_id=notification.id)
            return
        if key in self._scheduler.queued:
            self._log.debug("duplicate notification ignored", notification_id=notification.id)
            return
        if self._dead:
            self._dead.pop(key, None)
        self._queue(notification, key)

    def _queue(self, notification: Notification, key: str) -> None:
        record = OutboxRecord(
            self.receiver, notification, recorded_at=self._clock.time(), order=next(self._order)
        )
        delivery = self._scheduler.add(notification, key, self._clock.now())
        self._records[key] = record
        self._writer.write(record, key, token=delivery)

    def _appended(self, incarnation: object, deliveries: list[Delivery], durable: bool) -> None:
        # The outbox writer's callback (its task, between this actor's messages): noted
        # here, handled by the next message (a _Completions told for the first).
        if incarnation is not self._incarnation:
            return  # stopped since: a new start reloads the outbox
        self._written.append((deliveries, durable))
        if len(self._written) == 1 and not self._results:
            self.ref.tell(_Completions())

    def _on_completions(self, message: _Completions) -> None:
        pass  # on_receive handled what they announce (_complete), before any message

    def _complete(self) -> None:
        """Handle the appends and sends that finished since the last message; pump once."""
        if self._written:
            self._recorded()
        if self._results:
            self._settle_results()
        self._pump()

    def _recorded(self) -> None:
        written, self._written = self._written, []
        now = self._clock.now()
        recorded = self._scheduler.recorded
        for deliveries, durable in written:
            if not durable:
                self._log.error(
                    "outbox unavailable: delivering without durability",
                    notifications=[delivery.notification.id for delivery in deliveries],
                )
            for delivery in deliveries:
                recorded(delivery, now)

    def _on_wake(self, message: _Wake) -> None:
        if message.incarnation is self._incarnation:
            self._wake_at = None
            self._pump()

    def _pump(self) -> None:
        scheduler = self._scheduler
        now = self._clock.now()
        for expired in scheduler.expire(now):
            self._dead_letter(expired)
        start = self._start_send
        for send in scheduler.due(now):
            if start is not None:
                done = functools.partial(self._sent, send, self._incarnation)
                items = send.items
                batch = (
                    [items[0].notification]
                    if len(items) == 1
                    else [item.notification for item in items]
                )
                try:
                    if start(batch, done):
                        continue
                except Exception as bug:
                    done(bug)
                    continue
            task = asyncio.get_running_loop().create_task(
                self._send(send, self._incarnation), name=self._send_name
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        wake = scheduler.wake_at(now)
        armed = self._wake_at
        # Re-arm only for an earlier wake-up: one that comes too early just pumps (and
        # arms the right one), and re-arming at each send (the oldest deadline moves on
        # with every delivery) cost more than all the scheduling decisions.
        if wake is not None and (armed is None or wake < armed):
            self._wake_at = wake
            self.timers.send_after(max(0.0, wake - now), _Wake(self._incarnation), _WAKE)

    async def _send(self, send: Send, incarnation: object) -> None:
        error: BaseException | None = None
        try:
            await self.channel.send([item.notification for item in send.items])
        except Exception as failure:
            error = failure
        self._sent(send, incarnation, error)

    def _sent(self, send: Send, incarnation: object, error: BaseException | None) -> None:
        if incarnation is not self._incarnation:
            return  # stopped since: the outbox still holds it
        if error is not None:
            if not isinstance(error, DeliveryError):
                self._log.error(
                    "channel raised an unexpected error", attempt=send.attempt, exc_info=error
                )
                error = DeliveryError(f"channel error: {error!r}", retryable=False)
            elif not str(error).strip():  # receipts and dead letters must say why
                error = DeliveryError(
                    "delivery failed (the channel gave no reason)",
                    retryable=error.retryable,
                    retry_after=error.retry_after,
                )
        # Sends that end together are one message and one pump: a mailbox message
        # and a scheduling pass per send cost more than the outcome itself.
        self._results.append((send, error))
        if len(self._results) == 1 and not self._written:
            self.ref.tell(_Completions())

    def _settle_results(self) -> None:
        results, self._results = self._results, []
        now = self._clock.now()
        # One wall-clock reading for the sends that ended together: the time of their
        # receipts' latencies and of their delivered marks.
        wall = self._clock.time()
        receipts = self._receipts_due
        receiver = self.receiver
        delivered = DeliveryReceipt.delivered
        mark = self._writer.delivered  # the outbox delete and the delivered mark
        for send, error in results:
            if error is None:
                for delivery in self._scheduler.completed(send, now):
                    self._delivered += 1
                    self._records.pop(delivery.key, None)
                    mark(delivery.key, wall)
                    notification = delivery.notification
                    latency = wall - notification.created_at
                    receipts.append(
                        delivered(notification.id, receiver, delivery.attempts, max(0.0, latency))
                    )
            else:
                self._failed_attempts += 1
                outcome = self._scheduler.failed(send, error, now)
                if isinstance(outcome, Retrying):
                    self._retrying(outcome)
                else:
                    self._dead_letter(outcome)
