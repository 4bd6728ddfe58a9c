"""ReceiverCommands: what ``AlertSystem`` asks of its notifiers (receivers, dead letters)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from actors.notify import (
    DeadLetterInfo,
    DeleteReceiver,
    DeliveryPolicy,
    ListDeadLetters,
    ListReceivers,
    PutReceiver,
    ReceiverChanged,
    ReceiverConfig,
    ReceiverInfo,
    ReplayDeadLetter,
    Replayed,
    RevertReceiver,
)
from gateway._tree_metrics import NOTIFIERS_PATH
from supervision import ActorSystem


class ReceiverCommands(ABC):
    """The notifier supervisor's commands and queries, for ``AlertSystem``.

    A base class, not a component, as ``AlertCommands``: ``AlertSystem`` provides
    ``system``.
    """

    @property
    @abstractmethod
    def system(self) -> ActorSystem:
        """The running ``ActorSystem`` (``AlertSystem`` provides it)."""

    # -- receivers -----------------------------------------------------------------------------

    async def put_receiver(
        self, receiver: ReceiverConfig, delivery: DeliveryPolicy | None = None
    ) -> ReceiverChanged:
        """Add a receiver, or replace the one of the same name.

        Routes already naming it start reaching it; a replaced receiver's undelivered
        notifications go to the new one. The change is stored (secrets included) before
        it applies, and so lasts across restarts, winning over the configured receiver of
        the same name (``ReceiverNotStored`` if the store refuses it: nothing changed).
        Raises ``ReceiverNotStarted`` if its notifier cannot start (a replaced one, and
        the stored state, are restored).
        """
        changed = await self.system.lookup(NOTIFIERS_PATH).ask(
            PutReceiver(receiver, delivery), timeout=30.0
        )
        assert isinstance(changed, ReceiverChanged)
        return changed

    async def delete_receiver(self, name: str) -> ReceiverChanged:
        """Remove a receiver; raise ``UnknownReceiver``, or ``ReceiverInUse`` while the
        route or an escalation policy names it. The deletion is stored first and lasts
        across restarts, a configured receiver's too (``ReceiverNotStored`` if the store
        refuses it: nothing changed)."""
        changed = await self.system.lookup(NOTIFIERS_PATH).ask(DeleteReceiver(name), timeout=30.0)
        assert isinstance(changed, ReceiverChanged)
        return changed

    async def revert_receiver(self, name: str) -> ReceiverChanged:
        """Drop the stored run-time change of receiver ``name``; the configuration's
        version runs again.

        The stored document (a put receiver or a deletion) goes first
        (``ReceiverNotStored`` if the store refuses it: nothing changed). Then the
        configured receiver of that name runs again, as the server read it at start:
        it replaces the stored one (``replaced``; its undelivered notifications go to the
        configured endpoint) or comes back after a deletion (``added``). A receiver only
        the store had, put at run time, is deleted (``removed``), or, while the route or
        an escalation policy names it, refused with ``ReceiverInUse`` (nothing changed,
        the store included). ``NoStoredReceiverChange`` (an ``UnknownReceiver``) if no
        change of ``name`` is stored.
        """
        changed = await self.system.lookup(NOTIFIERS_PATH).ask(RevertReceiver(name), timeout=30.0)
        assert isinstance(changed, ReceiverChanged)
        return changed

    async def list_receivers(self) -> tuple[ReceiverInfo, ...]:
        """Return the receivers in use, each with its delivery policy and users."""
        infos: tuple[ReceiverInfo, ...] = await self.system.lookup(NOTIFIERS_PATH).ask(
            ListReceivers(), timeout=30.0
        )
        return infos

    # -- dead letters --------------------------------------------------------------------------

    async def dead_letters(self, receiver: str | None = None) -> tuple[DeadLetterInfo, ...]:
        """Return the notifications delivery gave up on: ``receiver``'s, or every
        receiver's (None), oldest first per receiver; raise ``UnknownReceiver``."""
        letters: tuple[DeadLetterInfo, ...] = await self.system.lookup(NOTIFIERS_PATH).ask(
            ListDeadLetters(receiver), timeout=30.0
        )
        return letters

    async def replay_dead_letters(
        self, receiver: str, notification_id: str | None = None
    ) -> Replayed:
        """Deliver ``receiver``'s dead letter ``notification_id`` again, or all of them
        (None): each goes through the outbox from attempt 1 with its idempotency key, and
        ends with a new receipt. Raises ``UnknownReceiver`` or ``DeadLetterNotFound``."""
        replayed = await self.system.lookup(NOTIFIERS_PATH).ask(
            ReplayDeadLetter(receiver, notification_id), timeout=30.0
        )
        assert isinstance(replayed, Replayed)
        return replayed
