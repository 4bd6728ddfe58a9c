"""A real aiosmtpd server on 127.0.0.1 whose replies a test scripts.

``ScriptedHandler`` records every accepted message and answers DATA (and RCPT) with the
replies a test queued, or with ``250``. ``SmtpServer`` counts connections, lets a test
drop them from the server side, and waits on events, never on sleeps.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import aiosmtpd.smtp

DROP = "drop"
"""A queued MAIL or DATA reply that closes the connection instead of answering."""

HANG = "hang"
"""A queued DATA reply that never answers (until the server closes)."""


@dataclass(frozen=True)
class Received:
    """One message the server accepted."""

    sender: str
    recipients: list[str]
    raw: bytes
    message: EmailMessage
    over_tls: bool
    login: bytes | None


class ScriptedHandler:
    """Accept messages, or answer with the replies queued in ``data_replies``."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.data_replies: deque[str] = deque()
        self.mail_replies: deque[str] = deque()
        self.rcpt_replies: deque[str] = deque()
        self.hanging = asyncio.Event()
        self._release = asyncio.Event()
        self._arrivals: list[tuple[int, asyncio.Future[None]]] = []

    async def wait_for_messages(self, count: int) -> list[Received]:
        """Return the received messages once there are at least ``count``."""
        if len(self.received) < count:
            arrived = asyncio.get_running_loop().create_future()
            self._arrivals.append((count, arrived))
            await arrived
        return self.received

    def release(self) -> None:
        """Let every hanging DATA reply go (the server is closing)."""
        self._release.set()

    async def handle_MAIL(
        self,
        server: aiosmtpd.smtp.SMTP,
        session: aiosmtpd.smtp.Session,
        envelope: aiosmtpd.smtp.Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.mail_replies:
            reply = self.mail_replies.popleft()
            if reply == DROP:
                assert server.transport is not None
                server.transport.close()
                return "250 never sent"
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: aiosmtpd.smtp.SMTP,
        session: aiosmtpd.smtp.Session,
        envelope: aiosmtpd.smtp.Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.rcpt_replies:
            return self.rcpt_replies.popleft()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self,
        server: aiosmtpd.smtp.SMTP,
        session: aiosmtpd.smtp.Session,
        envelope: aiosmtpd.smtp.Envelope,
    ) -> str:
        reply = self.data_replies.popleft() if self.data_replies else "250 Message accepted"
        if reply == DROP:
            assert server.transport is not None
            server.transport.close()
            return "250 never sent"
        if reply == HANG:
            self.hanging.set()
            await self._release.wait()
            return "451 released"
        if reply.startswith("250"):
            content = envelope.content
            assert isinstance(content, bytes)
            message = email.message_from_bytes(content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            self.received.append(
                Received(
                    sender=str(envelope.mail_from),
                    recipients=list(envelope.rcpt_tos),
                    raw=content,
                    message=message,
                    over_tls=session.ssl is not None,
                    login=getattr(session.auth_data, "login", None),
                )
            )
            for count, arrived in list(self._arrivals):
                if len(self.received) >= count and not arrived.done():
                    arrived.set_result(None)
        return reply


class _Connection(aiosmtpd.smtp.SMTP):
    """aiosmtpd's protocol, telling the server when it is closed."""

    def __init__(self, owner: SmtpServer, handler: ScriptedHandler, **options: Any) -> None:
        super().__init__(handler, **options)
        self.closed = asyncio.Event()
        owner.connections.append(self)

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        self.closed.set()

    async def finished(self) -> None:
        """Wait until the connection is closed and its handler task has ended."""
        await self.closed.wait()
        task = self._handler_coroutine
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 and an ephemeral port; ``options`` go to its SMTP."""

    def __init__(self, handler: ScriptedHandler | None = None, **options: Any) -> None:
        self.handler = handler or ScriptedHandler()
        self.options = {"hostname": "localhost", **options}
        self.connections: list[_Connection] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self, *, implicit_tls: ssl.SSLContext | None = None) -> SmtpServer:
        """Listen; with ``implicit_tls``, TLS from the first byte (SMTPS, port 465 style)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self, self.handler, loop=loop, **self.options),
            "127.0.0.1",
            0,
            ssl=implicit_tls,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def drop_connections(self) -> None:
        """Close every open connection from the server's side and wait until closed."""
        for connection in self.connections:
            if connection.transport is not None:
                connection.transport.close()
        for connection in self.connections:
            await connection.finished()

    async def close(self) -> None:
        """Stop listening, close every connection and wait for their tasks."""
        self.handler.release()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self.drop_connections()
