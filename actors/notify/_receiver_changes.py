"""Receivers changed at run time: the part of NotifierSupervisor that adds and removes them.

``ReceiverChanges`` is ``NotifierSupervisor``'s base class (actors/notify/_supervisor.py):
it applies ``PutReceiver``, ``DeleteReceiver`` and ``RevertReceiver`` (stored first when
the supervisor keeps a ``ReceiverRecord``), overlays the stored changes before the first start, and
starts and stops the notifier children they name. Routing stays in the supervisor.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from actors.notify._channel_factory import notifier_name
from actors.notify._config import (
    DEFAULT_DELIVERY,
    DeliveryPolicy,
    NotifiersConfig,
    ReceiverConfig,
    receiver_kind,
)
from actors.notify._notifier import Notifier
from actors.notify._receiver_record import ReceiverNotStored, ReceiverRecord, StoredReceivers, merge
from actors.notify._requests import (
    GetNotifierStatus,
    NoStoredReceiverChange,
    PutReceiver,
    ReceiverChanged,
    ReceiverInUse,
    ReceiverNotStarted,
    UnknownReceiver,
)
from supervision import ActorRef, ActorStartError, ChildSpec, Restart, Supervisor

__all__ = ["ReceiverChanges"]


class _NotifierFactory:
    """Build the notifier of one receiver: a child spec's factory that knows its receiver.

    The supervisor's membership lives in its cell (a restarted supervisor keeps the
    children added and loses those removed at run time), so the receivers in use are
    read back from these factories rather than from the configuration.
    """

    __slots__ = ("build", "policy", "receiver")

    def __init__(
        self,
        build: Callable[[ReceiverConfig, DeliveryPolicy], Notifier],
        receiver: ReceiverConfig,
        policy: DeliveryPolicy,
    ) -> None:
        self.build = build
        self.receiver = receiver
        self.policy = policy

    def __call__(self) -> Notifier:
        return self.build(self.receiver, self.policy)


class ReceiverChanges(Supervisor):
    """Add, replace and remove notifier children as receivers change at run time.

    The subclass (``NotifierSupervisor``) sets these attributes and provides
    ``_notifier``, which builds a receiver's notifier; its ``on_receive`` calls these
    handlers.
    """

    config: NotifiersConfig
    _record: ReceiverRecord | None
    _users: dict[str, tuple[str, ...]]
    _routes: dict[str, ActorRef]
    _factories: dict[str, _NotifierFactory]
    _notifier_shutdown: float
    _notifier: Callable[[ReceiverConfig, DeliveryPolicy], Notifier]

    async def _overlay_stored(self, record: ReceiverRecord) -> None:
        # Before any child starts: a configured receiver replaced at run time must not
        # deliver its outbox to the configured endpoint first.
        stored = await record.load()
        receivers, replaced, deleted = merge(self.config.receivers(), stored, self._users)
        self.initial_children = tuple(
            ChildSpec(
                notifier_name(receiver),
                _NotifierFactory(
                    self._notifier, receiver, policy or self.config.delivery_for(receiver)
                ),
                Restart.PERMANENT,
                self._notifier_shutdown,
            )
            for receiver, policy in receivers
        )
        if replaced or deleted:
            self.log.warning(
                "configured receivers overridden by run-time changes kept in the store: "
                "edits of these receivers in the configuration do not apply; revert_receiver "
                "drops a stored change",
                replaced=replaced,
                deleted=deleted,
            )
        elif stored.receivers:
            self.log.info(
                "run-time receivers restored from the store", receivers=len(stored.receivers)
            )

    async def _put_receiver(self, message: PutReceiver) -> ReceiverChanged | None:
        receiver = message.receiver
        kind = receiver_kind(receiver)
        policy = message.delivery or DEFAULT_DELIVERY[kind]
        record, before = self._record, self._record.stored if self._record else None
        if record is not None:
            try:
                await record.put(receiver, message.delivery)
            except (ReceiverNotStored, ValueError) as error:
                self.log.warning(
                    "receiver change refused", receiver=receiver.name, error=str(error)
                )
                self.defer_reply().fail(error)
                return None
        factory = _NotifierFactory(self._notifier, receiver, policy)
        started, previous = await self._replace(factory, before)
        if not started:
            return None
        change = "added" if previous is None else "replaced"
        self.log.info("receiver changed", receiver=receiver.name, kind=kind, change=change)
        return ReceiverChanged(receiver.name, kind, change)

    async def _replace(
        self, factory: _NotifierFactory, before: StoredReceivers | None
    ) -> tuple[bool, _NotifierFactory | None]:
        """Run ``factory``'s notifier in place of the receiver's current one (if any).

        The current notifier stops first, once the notifications queued before are in
        the durable outbox, which the new one reloads. Return whether the new one started,
        and the replaced factory (None: nothing ran). If the new notifier does not start,
        the replaced one starts again, the record goes back to ``before`` and the asker
        gets ``ReceiverNotStarted``.
        """
        name = factory.receiver.name
        previous = self._factories.get(name)
        if previous is not None:
            await self._stop_notifier(previous)
        try:
            await self._start_notifier(factory)
        except ActorStartError as error:
            if previous is not None:
                await self._start_notifier(previous)
            record = self._record
            if record is not None and before is not None:
                try:
                    await record.restore(name, before)
                except ReceiverNotStored as lost:
                    # The store keeps the change: the next start tries it again.
                    self.log.error(
                        "stored receiver change not undone", receiver=name, error=str(lost)
                    )
            self.log.warning("receiver not started", receiver=name, error=str(error))
            self.defer_reply().fail(ReceiverNotStarted(name, str(error.error)))
            return False, previous
        return True, previous

    async def _delete_receiver(self, name: str) -> ReceiverChanged | None:
        factory = self._factories.get(name)
        if factory is None:
            self.defer_reply().fail(UnknownReceiver(name, tuple(self._routes)))
            return None
        users = self._users.get(name, ())
        if users:
            self.defer_reply().fail(ReceiverInUse(name, users))
            return None
        if self._record is not None:
            try:
                await self._record.delete(name)
            except ReceiverNotStored as error:
                self.log.warning("receiver change refused", receiver=name, error=str(error))
                self.defer_reply().fail(error)
                return None
        await self._stop_notifier(factory)
        self.log.info("receiver changed", receiver=name, change="removed")
        return ReceiverChanged(name, receiver_kind(factory.receiver), "removed")

    async def _revert_receiver(self, name: str) -> ReceiverChanged | None:
        record = self._record
        if record is None or not record.has_change(name):
            self.defer_reply().fail(NoStoredReceiverChange(name))
            return None
        configured = {receiver.name: receiver for receiver in self.config.receivers()}.get(name)
        running = self._factories.get(name)
        users = self._users.get(name, ())
        if configured is None and running is not None and users:
            # As DeleteReceiver: a route never points at a missing receiver.
            self.defer_reply().fail(ReceiverInUse(name, users))
            return None
        before = record.stored
        try:
            await record.revert(name)
        except ReceiverNotStored as error:
            self.log.warning("receiver change refused", receiver=name, error=str(error))
            self.defer_reply().fail(error)
            return None
        if configured is None:
            if running is None:
                change, kind = "unchanged", None
            else:
                await self._stop_notifier(running)
                change, kind = "removed", receiver_kind(running.receiver)
        else:
            kind = receiver_kind(configured)
            policy = self.config.delivery_for(configured)
            if running is not None and (running.receiver, running.policy) == (configured, policy):
                change = "unchanged"  # the configured version already runs
            else:
                factory = _NotifierFactory(self._notifier, configured, policy)
                started, replaced = await self._replace(factory, before)
                if not started:
                    return None
                change = "added" if replaced is None else "replaced"
        self.log.info("receiver reverted to the configuration", receiver=name, change=change)
        return ReceiverChanged(name, kind, change)

    async def _start_notifier(self, factory: _NotifierFactory) -> None:
        # As Supervisor's StartChild, from inside this supervisor's own handler.
        spec = ChildSpec(
            notifier_name(factory.receiver), factory, Restart.PERMANENT, self._notifier_shutdown
        )
        child = self._cell.add_child(spec)
        try:
            await child.start()
        except ActorStartError as error:
            await child.terminate(error.error)
            raise
        self._routes[factory.receiver.name] = child.ref
        self._factories[factory.receiver.name] = factory

    async def _stop_notifier(self, factory: _NotifierFactory) -> None:
        name = factory.receiver.name
        ref = self._routes.pop(name, None)
        self._factories.pop(name, None)
        if ref is not None:
            # An ask is handled after every notification queued before it: once it is
            # answered they are all in the durable outbox, which the next notifier of
            # this name reloads; terminating first would drop them as dead letters.
            with contextlib.suppress(Exception):
                await ref.ask(GetNotifierStatus(name), timeout=self._notifier_shutdown)
        child = (self._cell.children or {}).get(notifier_name(factory.receiver))
        if child is not None:
            await child.terminate()
