"""bench/notifiers.py's ReceiptCounter counts receipts, not messages: batches receipt by receipt."""

from __future__ import annotations

from bench.notifiers import ReceiptCounter, WaitDelivered
from messages import DeliveryOutcome, DeliveryReceipt, DeliveryReceipts
from supervision import ActorSystem, ChildSpec


def receipt(notification_id: str, outcome: DeliveryOutcome) -> DeliveryReceipt:
    error = None if outcome is DeliveryOutcome.DELIVERED else "HTTP 503"
    return DeliveryReceipt(
        notification_id=notification_id,
        receiver="webhook",
        outcome=outcome,
        attempts=1,
        latency_s=0.0,
        error=error,
    )


async def test_every_delivered_receipt_of_a_batch_counts_and_a_single_one_too() -> None:
    delivered, failed = DeliveryOutcome.DELIVERED, DeliveryOutcome.FAILED
    async with ActorSystem([ChildSpec("receipts", ReceiptCounter)]) as system:
        counter = system.lookup("receipts")
        counter.tell(
            DeliveryReceipts(
                receipts=(receipt("a", delivered), receipt("b", failed), receipt("b", delivered))
            )
        )
        counter.tell(receipt("c", delivered))
        # Answered once three are delivered: with one count per message, never.
        assert await counter.ask(WaitDelivered("webhook", 3), timeout=10.0) == 3
