"""ConnectionRegistry: live connections, their subscriptions, and the fan-out of events.

It lives under ``edge`` next to the gateway (DESIGN.md), in ``gateway/`` because what it
holds are WebSocket connections. It subscribes to the alert manager once, keeps the open
alerts (``AlertView``) and the last ``replay_window`` transitions, and pushes each
transition to every subscription that selects it, at most once, in seq order.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from actors._addressing import resolve
from actors.alerting import Subscribe, Subscribed, Unsubscribe
from gateway._audience import Audiences
from gateway._config import RegistryConfig
from gateway._connection import Connection, text_frame
from gateway._registry_requests import (
    AddSubscription,
    Register,
    Registered,
    RegistryStats,
    RegistryStatsQuery,
    RemoveSubscription,
    Unregister,
)
from gateway._replay import TooFarBehind, fetch_history, replay
from gateway._subscription import NOTIFICATION_STATES, Record, Subscription
from gateway._view import AlertView
from messages import (
    AlertTransition,
    ErrorFrame,
    ErrorReply,
    Notification,
    ReplyFrame,
    SnapshotFrame,
)
from supervision import Actor, ActorRef

__all__ = ["CONNECTION_REGISTRY", "ConnectionRegistry", "SubscriptionRefused"]

CONNECTION_REGISTRY = "connection-registry"
"""The registry's child name, which ``WebSocketChannel`` looks up by default."""

RESTARTED = "the connection registry restarted: reconnect and resume"


class SubscriptionRefused(Exception):
    """Raised in ``on_start`` when the alert manager refuses the registry's subscription."""


class _Heartbeat:
    """The registry's timer: re-check every connection's unsent bytes."""


@dataclass(frozen=True, slots=True)
class _Replayed:
    """A history fetch finished: the events after the resume point, or why not."""

    subscription: Subscription
    events: tuple[AlertTransition, ...]
    error: str | None = None
    too_far: bool = False


class ConnectionRegistry(Actor):
    """Hold the live connections and push alert transitions and notifications to them.

    Asks: ``Register`` (→ ``Registered``), ``RemoveSubscription`` (→ bool),
    ``RegistryStatsQuery`` (→ ``RegistryStats``). Tells: ``Unregister``,
    ``AddSubscription`` (answered on the connection), ``AlertTransition`` (from the alert
    manager, to which it subscribes in ``on_start``) and ``Notification`` (from the
    WebSocket notifier, the interface of ``actors.notify.WebSocketChannel``: never
    answered, duplicates dropped by idempotency key).

    A client that does not read is shed with 1013 on the push that finds its buffer full
    or at the next heartbeat; nobody else waits for it. When an instance stops (a crash,
    a restart) it closes its connections with 1012 so their clients reconnect and resume:
    its state is not carried over. The mailbox should be unbounded (the alert manager
    tells transitions; a dropped one would be a gap).
    """

    def __init__(
        self, alert_manager: ActorRef | str, *, config: RegistryConfig | None = None
    ) -> None:
        self._manager_name = alert_manager
        self._config = config or RegistryConfig()
        self._connections: dict[str, Connection] = {}
        self._subscriptions: dict[tuple[str, str], Subscription] = {}
        self._audiences = Audiences()
        self._holding: dict[tuple[str, str], Subscription] = {}  # not live: fetching history
        self._by_connection: dict[str, dict[str, Subscription]] = {}
        self._view = AlertView()
        self._window: deque[Record] = deque(maxlen=self._config.replay_window)
        self._seq = 0
        self._floor = 0  # the window holds every transition after this seq
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._counts = {"events": 0, "notifications": 0, "duplicates": 0, "shed": 0}
        self._replays = {"memory": 0, "history": 0, "snapshot": 0}

    # -- lifecycle -------------------------------------------------------------------------

    async def on_start(self) -> None:
        """Subscribe to the alert manager and load its open alerts; start the heartbeat."""
        self._manager = resolve(self, self._manager_name)
        reply = await self._manager.ask(
            Subscribe(self.ref, snapshot=True), timeout=self._config.ask_timeout
        )
        if not isinstance(reply, Subscribed):
            raise SubscriptionRefused(f"the alert manager refused the subscription: {reply!r}")
        self._view.load(reply.alerts)
        self._seq = self._floor = reply.seq
        self.timers.send_every(self._config.heartbeat_interval, _Heartbeat(), key=_Heartbeat)
        self.log.info("connection registry started", seq=reply.seq, open_alerts=len(self._view))

    async def on_stop(self) -> None:
        """Close every connection with 1012 and end the history fetches."""
        for connection in self._connections.values():
            connection.close(1012, RESTARTED)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        manager = getattr(self, "_manager", None)
        if manager is not None:
            manager.tell(Unsubscribe(self.ref))

    async def on_receive(self, message: Any) -> Any:
        """Dispatch ``message``; see the class docstring."""
        if isinstance(message, AlertTransition):
            self._on_transition(message)
        elif isinstance(message, Notification):
            self._on_notification(message)
        elif isinstance(message, AddSubscription):
            self._on_subscribe(message)
        elif isinstance(message, _Replayed):
            self._on_replayed(message)
        elif isinstance(message, Register):
            connection_id = message.connection.connection_id
            self._connections[connection_id] = message.connection
            self._by_connection[connection_id] = {}
            return Registered(seq=self._seq)
        elif isinstance(message, Unregister):
            self._forget(message.connection_id)
        elif isinstance(message, RemoveSubscription):
            return self._remove(message.connection_id, message.subscription)
        elif isinstance(message, _Heartbeat):
            self._on_heartbeat()
        elif isinstance(message, RegistryStatsQuery):
            return self._stats()
        else:
            return await super().on_receive(message)
        return None

    # -- live events -----------------------------------------------------------------------

    def _on_transition(self, transition: AlertTransition) -> None:
        if transition.seq <= self._seq:
            return  # told again after a restart of the alert manager or of this actor
        seq = self._seq = transition.seq
        before, after = self._view.apply(transition)
        record = Record(transition, before, after)
        window = self._window
        if len(window) == window.maxlen:
            self._floor = window[0].seq
        window.append(record)
        shed: list[Connection] = []
        if self._holding:
            for subscription in self._holding.values():
                subscription.held.append(record)
                if len(subscription.held) > self._config.max_catch_up:
                    subscription.connection.shed()
                    shed.append(subscription.connection)
        # One frame per subscription id (clients often share one), serialized once and
        # written as is to every connection: see Connection.push_frame.
        frames: dict[str, bytes] = {}
        pushed = 0
        for subscription in self._audiences.selecting(before, after):
            if not subscription.live:
                continue
            # A live subscription has been told everything before this event; only
            # pushes move its cursor (what a replay consults, before it goes live).
            subscription.cursor = seq
            frame = frames.get(subscription.id)
            if frame is None:
                frame = frames[subscription.id] = text_frame(subscription.event_frame(record))
            if subscription.connection.push_frame(frame):
                pushed += 1
            else:
                shed.append(subscription.connection)
        self._counts["events"] += pushed
        for connection in shed:
            self._drop(connection)

    def _on_notification(self, notification: Notification) -> None:
        keys = self._keys
        key = notification.idempotency_key
        if key in keys:
            self._counts["duplicates"] += 1
            return
        keys[key] = None
        if len(keys) > self._config.dedupe_window:
            keys.popitem(last=False)
        facts = (
            notification.labels,
            notification.severity.value,
            NOTIFICATION_STATES[notification.kind],
        )
        body: bytes | None = None
        frames: dict[str, bytes] = {}
        shed: list[Connection] = []
        for subscription in self._audiences.matching(facts):
            if not subscription.notifications:
                continue
            frame = frames.get(subscription.id)
            if frame is None:
                if body is None:
                    body = notification.model_dump_json().encode()
                frame = text_frame(subscription.notification_frame(body))
                frames[subscription.id] = frame
            if subscription.connection.push_frame(frame):
                self._counts["notifications"] += 1
            else:
                shed.append(subscription.connection)
        for connection in shed:
            self._drop(connection)

    # -- subscriptions ---------------------------------------------------------------------

    def _on_subscribe(self, request: AddSubscription) -> None:
        connection = self._connections.get(request.connection_id)
        if connection is None or not connection.is_open:
            return
        frame = request.frame
        key = (connection.connection_id, frame.id)
        if key in self._subscriptions:
            message = f"subscription {frame.id!r} exists: unsubscribe first or use another id"
            self._error(connection, frame.id, ErrorReply(code="conflict", message=message))
            return
        if len(self._by_connection[connection.connection_id]) >= request.max_subscriptions:
            message = f"at most {request.max_subscriptions} subscriptions per connection"
            self._error(connection, frame.id, ErrorReply(code="invalid", message=message))
            return
        resume_from = frame.resume_from
        if resume_from is not None and resume_from > self._seq:
            message = f"cannot resume from {resume_from}: the last seq is {self._seq}"
            reply = ErrorReply(code="invalid", message=message, field="resume_from")
            self._error(connection, frame.id, reply)
            return
        subscription = Subscription(connection, frame, self._seq)
        self._subscriptions[key] = subscription
        self._audiences.add(subscription)
        self._by_connection[connection.connection_id][frame.id] = subscription
        if resume_from is None:
            self._send_snapshot(subscription)
        elif resume_from >= self._floor:
            self._replays["memory"] += 1
            subscription.cursor = resume_from
            if self._reply_resumed(subscription, resume_from):
                for record in [r for r in self._window if r.seq > resume_from]:
                    if not subscription.deliver(record, burst=True):
                        self._drop(connection)
                        return
        elif self._seq - resume_from > self._config.max_replay:
            self._replays["snapshot"] += 1
            self._send_snapshot(subscription)
        else:
            subscription.cursor = resume_from
            subscription.live = False
            self._holding[key] = subscription
            self._spawn(self._fetch(subscription, resume_from))

    def _send_snapshot(self, subscription: Subscription) -> None:
        subscription.cursor = self._seq
        subscription.live = True
        self._holding.pop(subscription.key, None)
        frame = SnapshotFrame(
            subscription=subscription.id,
            seq=self._seq,
            alerts=self._view.snapshot(subscription.selected),
        )
        if not subscription.connection.push(frame.model_dump_json().encode(), large=True):
            self._drop(subscription.connection)

    def _reply_resumed(self, subscription: Subscription, resume_from: int) -> bool:
        frame = ReplyFrame(
            id=subscription.id,
            data={"subscription": subscription.id, "resumed_from": resume_from, "seq": self._seq},
        )
        if subscription.connection.push(frame.model_dump_json().encode()):
            return True
        self._drop(subscription.connection)
        return False

    async def _fetch(self, subscription: Subscription, since: int) -> None:
        config = self._config
        try:
            events = await fetch_history(
                self._manager, since, max_events=config.max_replay, timeout=config.ask_timeout
            )
        except TooFarBehind:
            self.ref.tell(_Replayed(subscription, (), too_far=True))
        except Exception as error:
            self.log.warning("history replay failed", error=repr(error))
            self.ref.tell(_Replayed(subscription, (), error=str(error) or type(error).__name__))
        else:
            self.ref.tell(_Replayed(subscription, tuple(events)))

    def _on_replayed(self, message: _Replayed) -> None:
        subscription = message.subscription
        if self._subscriptions.get(subscription.key) is not subscription:
            return  # unsubscribed or disconnected meanwhile
        connection = subscription.connection
        if message.too_far:
            self._replays["snapshot"] += 1
            subscription.held.clear()
            self._send_snapshot(subscription)
            return
        if message.error is not None:
            self._remove(*subscription.key)
            reason = f"cannot replay history now: {message.error}"
            self._error(connection, subscription.id, ErrorReply(code="unavailable", message=reason))
            return
        self._replays["history"] += 1
        held, subscription.held = subscription.held, []
        subscription.live = True
        del self._holding[subscription.key]
        if not self._reply_resumed(subscription, subscription.cursor):
            return
        if not replay(subscription, message.events) or not all(
            subscription.deliver(record, burst=True) for record in held
        ):
            self._drop(connection)

    def _error(self, connection: Connection, frame_id: str, reply: ErrorReply) -> None:
        if not connection.push(ErrorFrame.from_reply(frame_id, reply).model_dump_json().encode()):
            self._drop(connection)

    # -- connections -----------------------------------------------------------------------

    def _on_heartbeat(self) -> None:
        for connection in list(self._connections.values()):
            if not connection.check():
                self._drop(connection)

    def _drop(self, connection: Connection) -> None:
        if self._forget(connection.connection_id) and connection.close_code == 1013:
            self._counts["shed"] += 1

    def _forget(self, connection_id: str) -> bool:
        if self._connections.pop(connection_id, None) is None:
            return False
        for subscription_id in self._by_connection.pop(connection_id, {}):
            self._discard(self._subscriptions.pop((connection_id, subscription_id)))
        return True

    def _remove(self, connection_id: str, subscription_id: str) -> bool:
        owned = self._by_connection.get(connection_id)
        if owned is None or owned.pop(subscription_id, None) is None:
            return False
        self._discard(self._subscriptions.pop((connection_id, subscription_id)))
        return True

    def _discard(self, subscription: Subscription) -> None:
        self._audiences.discard(subscription)
        self._holding.pop(subscription.key, None)

    def _stats(self) -> RegistryStats:
        return RegistryStats(
            connections=len(self._connections),
            subscriptions=len(self._subscriptions),
            seq=self._seq,
            alerts_by_state=self._view.count_by_state(),
            events_pushed=self._counts["events"],
            notifications_pushed=self._counts["notifications"],
            duplicates_dropped=self._counts["duplicates"],
            shed=self._counts["shed"],
            replays=dict(self._replays),
        )

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
