"""A fan-out benchmark worker: a process holding thousands of ``LeanSubscriber`` clients.

Run by bench/gateway.py as ``python -m bench._fanout_worker URL TOKEN MATCHER...`` from
the repository root and driven over its standard input and output (see
``serve_commands``). It imports no Tocsin code, so it starts in a fraction of a second,
and runs on uvloop (the clients' side only: the server under test runs embedded on
asyncio's loop, while ``tocsin serve`` runs on uvloop by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time

import uvloop
from websockets.uri import parse_uri

from bench._lean_client import LeanSubscriber, SubscriberGroup

__all__ = ["raise_open_files_limit", "serve_commands"]

OPEN_TIMEOUT = 60.0
"""Seconds a subscriber may take from connecting to its subscription's snapshot."""

ROUND_TIMEOUT = 60.0
"""Seconds an armed round waits for every subscriber's event."""


def raise_open_files_limit() -> None:
    """Let this process hold as many sockets as the hard limit allows."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def serve_commands(url: str, token: str, matchers: list[str]) -> None:
    """In a worker process: hold subscribers and time events, on commands from stdin.

    One command a line, one JSON answer a line: ``grow N`` connects subscribers until N
    are open (``{"open": N, "failed": F, "error": ...}``); ``arm`` answers ``"armed"``,
    then ``{"received": R, "first": T0, "last": T1, "cpu": S}`` once every open subscriber has
    received and parsed its next ``alert_opened`` event (or after 60 s), with times on
    the system-wide monotonic clock; end of input closes every connection.
    """
    raise_open_files_limit()
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    uri = parse_uri(url)
    group = SubscriberGroup()
    gate = asyncio.Semaphore(100)

    async def one() -> None:
        async with gate:
            subscriber = LeanSubscriber(url, token, matchers, group)
            await loop.create_connection(lambda: subscriber, uri.host, uri.port)
            try:
                await asyncio.wait_for(subscriber.ready, OPEN_TIMEOUT)
            finally:
                group.subscribers.append(subscriber)

    def answer(value: object) -> None:
        print(json.dumps(value), flush=True)

    while line := await commands.readline():
        command, *arguments = line.decode().split()
        if command == "grow":
            missing = int(arguments[0]) - len(group.subscribers)
            results = await asyncio.gather(*(one() for _ in range(missing)), return_exceptions=True)
            failed = [result for result in results if isinstance(result, BaseException)]
            opened = sum(subscriber.open for subscriber in group.subscribers)
            answer({"open": opened, "failed": len(failed), "error": repr(failed[:1])})
        elif command == "arm":
            group.arm()
            cpu = time.process_time()
            answer("armed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(group.done.wait(), ROUND_TIMEOUT)
            arrivals = group.arrivals
            answer(
                {
                    "received": len(arrivals),
                    "first": min(arrivals, default=0.0),
                    "last": max(arrivals, default=0.0),
                    "cpu": time.process_time() - cpu,
                }
            )
    for subscriber in group.subscribers:
        subscriber.close()
    closing = [subscriber.closed for subscriber in group.subscribers]
    if closing:
        await asyncio.wait(closing, timeout=30)
    for subscriber in group.subscribers:
        if subscriber.transport is not None:
            subscriber.transport.abort()


def main(argv: list[str]) -> int:
    """Serve commands for subscribers to ``argv[0]`` with token ``argv[1]``."""
    url, token, *matchers = argv
    # uvloop: the clients' event loop in C. On asyncio's own loop the workers spend ~3x
    # the CPU per event, and on 2 cores shared with the server they set the fan-out time.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve_commands(url, token, matchers))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
