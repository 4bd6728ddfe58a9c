"""NotifierSupervisor: one notifier per receiver, and the entry point that routes to them."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Mapping, Sequence
from typing import Any

from actors.notify._channel_factory import (
    ChannelContext,
    ChannelFactory,
    default_channel,
    notifier_name,
)
from actors.notify._config import (
    DeliveryPolicy,
    NotifiersConfig,
    ReceiverConfig,
    receiver_kind,
)
from actors.notify._notifier import Notifier
from actors.notify._receipts import ReceiptSink, ReceiptsTarget
from actors.notify._receiver_changes import ReceiverChanges, _NotifierFactory
from actors.notify._receiver_record import ReceiverRecord
from actors.notify._requests import (
    DeleteReceiver,
    GetNotifierStatus,
    GetTemplateFailures,
    ListDeadLetters,
    ListReceivers,
    PutReceiver,
    ReceiverInfo,
    ReplayDeadLetter,
    RevertReceiver,
    UnknownReceiver,
)
from actors.notify._templates import TemplateSet
from actors.store import Store
from messages import DeliveryOutcome, DeliveryReceipt, DeliveryReceipts, Notification
from supervision import (
    ActorRef,
    Backoff,
    ChildSpec,
    Reply,
    Restart,
    Strategy,
)

__all__ = [
    "ChannelContext",
    "ChannelFactory",
    "NotifierSupervisor",
    "default_channel",
    "notifier_name",
    "notifier_supervisor_spec",
]


OUTBOX_LINGER = 0.02
"""Seconds a notifier's delivered marks may wait to share a store transaction with more
(0: they commit as they come).

On by default since 2026-11-28: every append costs the event loop more than its rows.
The store's thread takes the GIL back after each SQLite statement, and with the loop
busy that is a forced switch (two context switches and a wake-up each); appends that
carried only the marks of one burst of answers were most of a notifier's appends. With
20 ms, a webhook run of 3,000 notifications made 7-11 appends instead of 39-80 and
165-811 voluntary context switches instead of 1,014-1,888 (tools: /proc, interleaved
runs). A crash within the wait repeats those deliveries after the restart (at least
once), as a crash between a send and its mark always could; notifications waiting for
their first attempt never wait for it (their record ends the wait), nor does a stop."""


class NotifierSupervisor(ReceiverChanges):
    """Run one ``Notifier`` per configured receiver and route ``Notification``s to them.

    This actor's ref is the alert manager's ``notifications`` entry point. Each
    ``Notification`` goes to the notifier of its ``receiver``; for an unknown receiver
    the notification is dead-lettered at once: a ``dead_lettered`` receipt naming the
    configured receivers, a warning in the log, and ``UnknownReceiver`` for an asker.
    ``ListDeadLetters``, ``ReplayDeadLetter`` and ``GetNotifierStatus`` go to the named
    receiver's notifier, or (receiver None, where allowed) to all of them, and their
    answers are combined (tuples, in configuration order). ``GetTemplateFailures`` is
    answered here, from the templates the channels share.

    Children are ``one_for_one``, ``permanent``: a notifier that crashes restarts alone,
    reloads its outbox and redelivers. ``channel_factory`` builds each notifier's
    channel at each (re)start (default: ``default_channel``); ``templates`` are shared
    by every channel (default: built from ``config.templates``). ``receipts`` receives
    every ``DeliveryReceipt``, in ``DeliveryReceipts`` batches.

    Receivers change at run time: ``PutReceiver`` adds or replaces one (a new notifier
    child), ``DeleteReceiver`` removes one, ``RevertReceiver`` drops a stored change
    and runs the configured version again, ``ListReceivers`` lists them. ``users`` maps a
    receiver name to what names it (the routes, escalation policies): such a receiver
    cannot be removed (``ReceiverInUse``), so a route never points at a missing one.
    ``outbox_linger`` is each notifier's (``OUTBOX_LINGER``, 20 ms; 0: marks commit as
    they come). With ``record``, those changes are stored before they apply
    (``ReceiverNotStored``: nothing changed), and the first start overlays the
    configured receivers with the stored changes before any notifier starts.
    """

    def __init__(
        self,
        config: NotifiersConfig,
        store: Store,
        *,
        receipts: ReceiptsTarget = None,
        channel_factory: ChannelFactory = default_channel,
        templates: TemplateSet | None = None,
        rng: random.Random | None = None,
        intensity: int = 5,
        period: float = 30.0,
        backoff: Backoff | None = None,
        notifier_shutdown: float = 5.0,
        users: Mapping[str, tuple[str, ...]] | None = None,
        outbox_linger: float = OUTBOX_LINGER,
        record: ReceiverRecord | None = None,
    ) -> None:
        self.config = config
        self._record = record
        self._outbox_linger = outbox_linger
        self._store = store
        self._receipts_target = receipts
        self._receipts = ReceiptSink(receipts)
        self._channel_factory = channel_factory
        self._templates = templates if templates is not None else TemplateSet(config.templates)
        self._notifier_rng = rng
        self._notifier_shutdown = notifier_shutdown
        self._users = dict(users or {})
        self._routes: dict[str, ActorRef] = {}
        self._factories: dict[str, _NotifierFactory] = {}
        specs = [
            ChildSpec(
                notifier_name(receiver),
                _NotifierFactory(self._notifier, receiver, config.delivery_for(receiver)),
                Restart.PERMANENT,
                notifier_shutdown,
            )
            for receiver in config.receivers()
        ]
        super().__init__(
            specs,
            strategy=Strategy.ONE_FOR_ONE,
            intensity=intensity,
            period=period,
            backoff=backoff,
        )
        self._tasks: set[asyncio.Task[None]] = set()

    def _notifier(self, receiver: ReceiverConfig, policy: DeliveryPolicy) -> Notifier:
        context = ChannelContext(self.clock, self.system, self._templates)
        return Notifier(
            receiver.name,
            self._channel_factory(receiver, context),
            self._store,
            policy=policy,
            receipts=self._receipts_target,
            rng=self._notifier_rng,
            outbox_linger=self._outbox_linger,
        )

    async def on_start(self) -> None:
        """Start every notifier in configuration order, then route to their refs."""
        if self._cell.children is None and self._record is not None:
            await self._overlay_stored(self._record)
        await super().on_start()
        for child in self._cell.child_cells():
            factory = child.spec.factory if child.spec is not None else None
            if isinstance(factory, _NotifierFactory):
                self._routes[factory.receiver.name] = child.ref
                self._factories[factory.receiver.name] = factory

    async def on_stop(self) -> None:
        """Drop the answers being gathered, then stop the notifiers in reverse order."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        await super().on_stop()

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Notification):
            self._route(message)
            return None
        if isinstance(message, (ListDeadLetters, GetNotifierStatus, ReplayDeadLetter)):
            self._forward(message)
            return None
        if isinstance(message, GetTemplateFailures):
            return dict(self._templates.failure_counts)
        if isinstance(message, PutReceiver):
            return await self._put_receiver(message)
        if isinstance(message, DeleteReceiver):
            return await self._delete_receiver(message.name)
        if isinstance(message, RevertReceiver):
            return await self._revert_receiver(message.name)
        if isinstance(message, ListReceivers):
            return tuple(
                ReceiverInfo(
                    factory.receiver,
                    receiver_kind(factory.receiver),
                    factory.policy,
                    self._users.get(name, ()),
                )
                for name, factory in self._factories.items()
            )
        return await super().on_receive(message)

    def _route(self, notification: Notification) -> None:
        ref = self._routes.get(notification.receiver)
        if ref is not None:
            ref.tell(notification)
            return
        error = UnknownReceiver(notification.receiver, tuple(self._routes))
        self.log.warning(
            "notification for an unknown receiver dead-lettered",
            receiver=notification.receiver,
            notification_id=notification.id,
        )
        receipt = DeliveryReceipt(
            notification_id=notification.id,
            receiver=notification.receiver,
            outcome=DeliveryOutcome.DEAD_LETTERED,
            attempts=0,
            latency_s=max(0.0, self.clock.time() - notification.created_at),
            error=str(error),
        )
        self._receipts.tell(DeliveryReceipts(receipts=(receipt,)), self.system, self.log)
        self.defer_reply().fail(error)

    def _forward(self, request: ListDeadLetters | GetNotifierStatus | ReplayDeadLetter) -> None:
        reply = self.defer_reply()
        if request.receiver is None:
            refs = list(self._routes.values())
        elif request.receiver in self._routes:
            refs = [self._routes[request.receiver]]
        else:
            reply.fail(UnknownReceiver(request.receiver, tuple(self._routes)))
            return
        combine = request.receiver is None
        task = asyncio.get_running_loop().create_task(
            _gather(refs, request, reply, combine), name=f"{self.path}:forward"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _gather(refs: Sequence[ActorRef], request: object, reply: Reply, combine: bool) -> None:
    try:
        answers = await asyncio.gather(*(ref.ask(request, timeout=None) for ref in refs))
    except Exception as error:
        reply.fail(error)
        return
    if not combine:
        reply.set(answers[0])
    elif isinstance(request, ListDeadLetters):
        reply.set(tuple(itertools.chain.from_iterable(answers)))
    else:
        reply.set(tuple(answers))


def notifier_supervisor_spec(
    config: NotifiersConfig,
    store: Store,
    *,
    name: str = "notifiers",
    receipts: ReceiptsTarget = None,
    shutdown: float = 30.0,
    **options: Any,
) -> ChildSpec:
    """Return the permanent child spec of a ``NotifierSupervisor`` named ``name``.

    ``options`` go to ``NotifierSupervisor``. ``store`` must be open before the tree
    starts and closed after it stops (the alert manager's store: one file).
    """
    return ChildSpec(
        name,
        lambda: NotifierSupervisor(config, store, receipts=receipts, **options),
        restart=Restart.PERMANENT,
        shutdown=shutdown,
    )
