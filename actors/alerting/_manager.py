"""AlertManager: the actor that owns every alert, persists each transition, then tells."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from actors._firing_alerts import FiringAlertsQuery
from actors.alerting._alert import Alert, match_labels
from actors.alerting._analytics import HISTORY_QUERIES
from actors.alerting._commands import COMMANDS, QUERIES, answer, execute, parse_command
from actors.alerting._config import AlertManagerConfig
from actors.alerting._dispatch import ESCALATIONS, NotificationPlanner, receipt_event
from actors.alerting._errors import AlertingError, store_refusing, unavailable
from actors.alerting._journal import Journal
from actors.alerting._manager_reads import ManagerReads
from actors.alerting._recovery import recover
from actors.alerting._requests import GetStatus, Subscribe, Unsubscribe
from actors.alerting._subscriptions import Subscriptions
from actors.store import NewEvent, Store
from messages import (
    Acknowledge,
    AlertFiring,
    AlertResolved,
    CreateSilence,
    DeliveryReceipt,
    DeliveryReceipts,
    ErrorReply,
    ExpireSilence,
    GetAlert,
    ListSilences,
    QueryAlerts,
    Resolve,
    RuleError,
    TransitionKind,
)
from supervision import ActorRef, Terminated

__all__ = ["AlertManager"]

_K = TransitionKind
# Kinds after which an alert's state may differ: escalation and grouping look at those.
_STATE_KINDS = frozenset(
    kind.value
    for kind in (
        _K.ALERT_OPENED,
        _K.ALERT_ACKNOWLEDGED,
        _K.ALERT_RESOLVED,
        _K.ALERT_SUPPRESSED,
        _K.ALERT_UNSUPPRESSED,
    )
)
# An update may change the severity, and with it the routes, groups and escalation policy.
_UPDATED = _K.ALERT_UPDATED.value


class _Tick:
    """The manager's own timer: silences, group flushes and escalation steps are due."""


class _Wake:
    """Wakes the mailbox so that a stop requested outside a handler happens."""


class AlertManager(ManagerReads):
    """Own every alert, silence and escalation; persist each transition before telling.

    Tell it ``AlertFiring``, ``AlertResolved`` and ``RuleError`` (from evaluators) and
    ``DeliveryReceipts`` or a single ``DeliveryReceipt`` (from notifiers: each receipt
    recorded as a ``notification_outcome``, in order). Ask
    it ``Acknowledge``, ``Resolve``, ``CreateSilence``, ``ExpireSilence``,
    ``QueryAlerts``, ``GetAlert``, ``ListSilences``, ``FiringAlertsQuery`` (from a
    restarted evaluator: it replaces the ``AlertLedger``), the history queries
    (``QueryHistory``, ``QueryAlertStats``, ``QueryFlapping``, ``QueryNoisiestRules``),
    ``Subscribe``/``Unsubscribe`` and ``GetStatus``; raw JSON (``str``/``bytes``) or a
    ``dict`` is validated as a ``Command``. Every answer is a typed message or an
    ``ErrorReply`` (codes ``invalid``, ``not_found``, ``illegal_transition``,
    ``unavailable``); bad input never crashes the actor nor changes its state.

    Durability: a command is answered only once its transition is durable in the store,
    and subscribers and notifiers hear of a transition only then; answers to queries
    also wait until what they show is durable. While the store refuses writes (disk
    full, read-only), transitions are held in order and retried until it takes them;
    commands and queries are answered ``unavailable`` at once, applying nothing, and
    those already waiting are answered ``unavailable`` (not confirmed) after
    ``store_retry_for`` seconds. The ``store`` must be open before the
    actor starts and stay open while it runs (its owner closes it). On start the actor
    reloads its state from the store and continues the sequence.

    ``notifications`` receives every ``Notification`` (the notifier supervisor's entry
    point); None drops them. Build the child spec with ``alert_manager_spec``: it is
    permanent and gives every instance the same ``Subscriptions``.
    """

    def __init__(
        self,
        store: Store,
        *,
        config: AlertManagerConfig | None = None,
        notifications: ActorRef | None = None,
        subscriptions: Subscriptions | None = None,
    ) -> None:
        self._store = store
        self._config = config or AlertManagerConfig()
        self._notifications = notifications
        self._subscriptions = Subscriptions() if subscriptions is None else subscriptions
        self._tasks: set[asyncio.Task[None]] = set()
        self._armed: float | None = None
        self._handlers: dict[type, Callable[[Any], Any]] = {
            AlertFiring: self._on_firing,
            AlertResolved: self._on_resolved,
            RuleError: self._on_rule_error,
            **{command: self._on_command for command in COMMANDS},
            **{query: self._on_query for query in QUERIES},
            **{query: self._on_history for query in HISTORY_QUERIES},
            DeliveryReceipt: self._on_receipt,
            DeliveryReceipts: self._on_receipts,
            Subscribe: self._on_subscribe,
            Unsubscribe: self._on_unsubscribe,
            Terminated: self._on_terminated,
            GetStatus: self._on_status,
            _Tick: self._on_tick,
            _Wake: lambda _message: None,
        }

    # -- lifecycle -------------------------------------------------------------------------

    async def on_start(self) -> None:
        """Reload the book, escalations and sequence from the store; resume subscribers."""
        config = self._config
        recovered = await recover(self._store, config)
        snapshot, self._book = recovered.snapshot, recovered.book
        now = self.clock.time()
        self._planner = NotificationPlanner(config.route, config.escalation_policies)
        self._planner.restore(snapshot.documents.get(ESCALATIONS, {}), now)
        self._journal = Journal(
            self._store,
            snapshot.last_seq,
            clock=self.clock,
            collect_writes=self._planner.drain_writes,
            committed=self._committed,
            broken=self._on_broken,
            checkpoint=self._book.checkpoint,
            checkpoint_events=config.checkpoint_events,
            checkpoint_interval=config.checkpoint_interval,
            retry_for=config.store_retry_for,
            log=self.log,
        )
        if recovered.replayed:
            self._journal.request_checkpoint()
        self._journal.start()
        if self._planner.enabled:
            planner = self._planner
            planner.refeed_resolved(
                self._book.resolved_since(now - planner.resolution_window()), now
            )
            planner.refeed(self._book.open_alerts(), now)
        self._record(self._book.reconcile(now), now)
        for subscriber in self._subscriptions.resume():
            self.watch(subscriber.ref)
            self._spawn(self._subscriptions.catch_up(subscriber, self._store, self._journal))
        self._arm()
        self.log.info(
            "alert manager started",
            last_seq=snapshot.last_seq,
            alerts=len(self._book),
            replayed=recovered.replayed,
        )

    async def on_stop(self) -> None:
        """Persist what is pending, answer what waited for it, end the owned tasks."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        journal = getattr(self, "_journal", None)
        if journal is not None:
            await journal.close()

    async def on_receive(self, message: Any) -> Any:
        """Dispatch ``message`` to its handler; see the class docstring."""
        handler = self._handlers.get(type(message))
        if handler is not None:
            return handler(message)
        if isinstance(message, str | bytes | bytearray | dict):
            return self._on_raw(message)
        reply = self.defer_reply()
        if reply.wanted:
            name = type(message).__name__
            reply.set(ErrorReply(code="invalid", message=f"the alert manager cannot handle {name}"))
            return None
        return await super().on_receive(message)

    # -- alert events from evaluators ------------------------------------------------------

    def _on_firing(self, event: AlertFiring) -> None:
        now = self.clock.time()
        self._record(self._book.fire(event, now), now)

    def _on_resolved(self, event: AlertResolved) -> None:
        now = self.clock.time()
        self._record(self._book.resolve_automatically(event, now), now)

    def _on_rule_error(self, event: RuleError) -> None:
        now = self.clock.time()
        self._record(self._book.record_rule_error(event, now), now)

    def _on_receipt(self, receipt: DeliveryReceipt) -> None:
        self._journal.add([receipt_event(receipt, self.clock.time())])

    def _on_receipts(self, batch: DeliveryReceipts) -> None:
        now = self.clock.time()
        self._journal.add([receipt_event(receipt, now) for receipt in batch.receipts])

    # -- commands and queries ------------------------------------------------------------

    def _on_command(self, command: Acknowledge | Resolve | CreateSilence | ExpireSilence) -> Any:
        refusal = self._journal.failing
        if refusal is not None:  # it could not be made durable: apply nothing
            return store_refusing(refusal)
        now = self.clock.time()
        outcome = execute(self._book, command, now)
        if not outcome.events:
            return outcome.answer
        self._record(outcome.events, now)
        if isinstance(command, CreateSilence):
            self._arm()
        return self._answer_when_durable(outcome.answer)

    def _on_query(self, query: QueryAlerts | GetAlert | ListSilences | FiringAlertsQuery) -> Any:
        refusal = self._journal.failing
        if refusal is not None:  # the book holds changes that are not durable yet
            return store_refusing(refusal)
        return self._answer_when_durable(answer(self._book, query, self.clock.time()))

    def _on_raw(self, raw: str | bytes | bytearray | dict[str, Any]) -> Any:
        command = parse_command(raw)
        if isinstance(command, ErrorReply):
            return command
        handler = self._handlers.get(type(command))
        if handler is None:
            name = type(command).__name__
            return ErrorReply(code="invalid", message=f"send {name} to the rules supervisor")
        return handler(command)

    # -- timers: silences, group flushes, escalation steps --------------------------------------

    def _on_tick(self, _tick: _Tick) -> None:
        self._armed = None
        now = self.clock.time()
        self._record(self._book.tick(now), now)
        for step in self._planner.due_escalations(now):
            try:
                events = self._book.escalate(step.alert_id, step.level, step.receivers, now)
            except AlertingError:
                continue  # the alert closed in the meantime: nobody to page
            self._record(events, now)
            pages = self._planner.escalation_pages(self._book.get(step.alert_id), step, now)
            self._journal.after(functools.partial(self._notify_after, pages))
        self._notify(self._planner.due_flushes(now, self._alert_or_none))
        self._arm()

    def _arm(self) -> None:
        times = [self._book.next_silence_change(), self._planner.next_deadline()]
        due = min((t for t in times if t is not None), default=None)
        if due is None or (self._armed is not None and self._armed <= due):
            return
        self._armed = due
        self.timers.send_after(max(0.0, due - self.clock.time()), _Tick(), key=_Tick)

    # -- durability --------------------------------------------------------------------------

    def _record(self, events: Sequence[NewEvent], now: float) -> None:
        self._journal.add(events)
        if not self._planner.escalating:
            return
        moved = False
        for event in events:
            kind = event.kind
            if event.alert_id is None:
                continue
            if kind in _STATE_KINDS:
                alert = self._alert_or_none(event.alert_id)
                if alert is None:  # resolved and already forgotten (max_resolved)
                    moved |= self._planner.forget(event.alert_id)
                else:
                    moved |= self._planner.state_changed(alert, now)
            elif kind == _UPDATED:
                alert = self._alert_or_none(event.alert_id)
                if alert is not None and alert.is_open:
                    moved |= self._planner.relabeled(alert, now)
        if moved:
            self._arm()

    def _committed(self, committed: list[tuple[int, NewEvent]]) -> None:
        self._subscriptions.deliver(committed)
        if not self._planner.enabled:
            return
        now = self.clock.time()
        planner = self._planner
        for _seq, event in committed:
            alert_id = event.alert_id
            if alert_id is None:
                continue
            kind = event.kind
            if kind in _STATE_KINDS:
                payload = event.payload
            elif kind == _UPDATED:
                payload = event.payload
                severity = payload["labels"].get("severity", payload["severity"])
                if not planner.moved(alert_id, severity):
                    continue
            else:
                continue
            labels = match_labels(payload["labels"], payload["severity"])
            planner.committed(alert_id, event.fingerprint or "", labels, payload["state"], now)
        self._arm()

    def _answer_when_durable(self, answer: BaseModel) -> None:
        reply = self.defer_reply()
        if reply.wanted:
            self._journal.after(
                lambda _seq: reply.set(answer), lambda error: reply.set(unavailable(error))
            )

    def _on_broken(self, error: BaseException) -> None:
        # Restart from what is durable: stop (a permanent child is restarted), and wake
        # the mailbox so that the stop happens even if nothing else arrives.
        self.log.error("the store failed: restarting from durable state", error=str(error))
        self.stop()
        self.ref.tell(_Wake())

    # -- helpers -------------------------------------------------------------------------------

    def _alert_or_none(self, alert_id: str) -> Alert | None:
        try:
            return self._book.get(alert_id)
        except AlertingError:
            return None

    def _notify_after(self, notifications: Sequence[Any], _seq: int) -> None:
        self._notify(notifications)

    def _notify(self, notifications: Sequence[Any]) -> None:
        if self._notifications is not None:
            for item in notifications:
                self._notifications.tell(item)
