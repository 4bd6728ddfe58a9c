"""Slots: the connection pool's counting semaphore, which can also be taken without waiting.

``Http1Transport`` (actors/notify/_transport.py) bounds the requests under way with it:
``exchange`` waits for a slot (``take``), sends by callback take one only if it is free
at once (``try_take``; the transport reads ``free`` and ``waiters`` inline on its hot
path, as ``try_take`` and ``release`` would).
"""

from __future__ import annotations

import asyncio
from collections import deque

import httpx

__all__ = ["Slots"]


class Slots:
    """A counting semaphore that can also be taken without waiting (``try_take``).

    A released slot goes to the longest waiter first, as ``asyncio.Semaphore``'s does.
    """

    __slots__ = ("free", "waiters")

    def __init__(self, count: int) -> None:
        self.free = count
        self.waiters: deque[asyncio.Future[None]] = deque()

    def try_take(self) -> bool:
        """Take a slot if one is free and nobody waits for one; say whether it did."""
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return True
        return False

    async def take(self, timeout: float | None) -> None:
        """Take a slot, waiting up to ``timeout`` seconds (``httpx.PoolTimeout``)."""
        if self.try_take():
            return
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot in the same instant: pass it on
            else:
                waiter.cancel()
            if isinstance(error, TimeoutError):
                raise httpx.PoolTimeout("no connection slot free in time") from None
            raise

    def available(self) -> bool:
        """Say whether ``try_take`` would take a slot now."""
        return self.free > 0 and not self.waiters

    def release(self) -> None:
        """Give a slot back: to the first waiter still waiting, else to the count."""
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1
