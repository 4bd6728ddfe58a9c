"""ReceiptSink: where delivery receipts go, looked up by name when it is not a ref yet."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from messages import DeliveryReceipt, DeliveryReceipts
from supervision import ActorNotFound, ActorRef, ActorSystem

__all__ = ["ReceiptSink", "ReceiptsTarget"]

ReceiptsTarget = ActorRef | str | None
"""A ref, a path or unique name to look up when a receipt is due, or None (no receipts).

A name breaks the cycle of the wiring: the alert manager needs the notifiers' ref at
construction, and the notifiers need the alert manager's; give one of them a name.
"""


class ReceiptSink:
    """Tell receipts to the target, looking a named target up as needed.

    ``tell`` sends one ``DeliveryReceipt``; ``tell_all`` sends several as one
    ``DeliveryReceipts`` (a notifier's scheduling pass).

    A named target that is not running drops the receipt with a warning (receipts feed
    history; they must never hold up a delivery). The ref found is kept while it lives.
    """

    __slots__ = ("_ref", "_target")

    def __init__(self, target: ReceiptsTarget) -> None:
        self._target = target
        self._ref = target if isinstance(target, ActorRef) else None

    def tell(self, receipt: DeliveryReceipt, system: ActorSystem, log: Any) -> None:
        """Tell ``receipt`` to the target (a dead letter if the target is dead)."""
        self._tell(receipt, system, log)

    def tell_all(self, receipts: Sequence[DeliveryReceipt], system: ActorSystem, log: Any) -> None:
        """Tell ``receipts`` (not empty) as one ``DeliveryReceipts``, in their order."""
        self._tell(DeliveryReceipts(receipts=tuple(receipts)), system, log)

    def _tell(
        self, message: DeliveryReceipts | DeliveryReceipt, system: ActorSystem, log: Any
    ) -> None:
        ref = self._ref
        target = self._target
        if isinstance(target, str) and (ref is None or not ref.is_alive()):
            try:
                ref = self._ref = system.lookup(target)
            except ActorNotFound:
                log.warning("receipts target not found, receipt dropped", target=target)
                return
        if ref is not None:
            ref.tell(message)
