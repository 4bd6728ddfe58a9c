"""ReceiptSink: where delivery receipts go, looked up by name when it is not a ref yet."""

from __future__ import annotations

from typing import Any

from messages import DeliveryReceipts
from supervision import ActorNotFound, ActorRef, ActorSystem

__all__ = ["ReceiptSink", "ReceiptsTarget"]

ReceiptsTarget = ActorRef | str | None
"""A ref, a path or unique name to look up when a receipt is due, or None (no receipts).

A name breaks the cycle of the wiring: the alert manager needs the notifiers' ref at
construction, and the notifiers need the alert manager's; give one of them a name.
"""


class ReceiptSink:
    """Tell ``DeliveryReceipts`` to the target, looking a named target up as needed.

    A named target that is not running drops the batch with a warning (receipts feed
    history; they must never hold up a delivery). The ref found is kept while it lives.
    """

    __slots__ = ("_ref", "_target")

    def __init__(self, target: ReceiptsTarget) -> None:
        self._target = target
        self._ref = target if isinstance(target, ActorRef) else None

    def tell(self, receipts: DeliveryReceipts, system: ActorSystem, log: Any) -> None:
        """Tell ``receipts`` to the target (a dead letter if the target is dead)."""
        ref = self._ref
        target = self._target
        if isinstance(target, str) and (ref is None or not ref.is_alive()):
            try:
                ref = self._ref = system.lookup(target)
            except ActorNotFound:
                log.warning(
                    "receipts target not found, receipts dropped",
                    target=target,
                    receipts=len(receipts.receipts),
                )
                return
        if ref is not None:
            ref.tell(receipts)
