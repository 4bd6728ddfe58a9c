"""What an HTTP/1.1 exchange of ``Http1Transport`` is made of, without the I/O.

Where a request goes (``Origin``), how long each step may take (``Timeouts``,
``DEFAULT_TIMEOUT``), the request head as bytes (``request_head``, ``header_lines``,
which refuse what would split a request), a whole response (``RawResponse``), and
``Stale``: a reused connection the server had closed. ``Connection``
(actors/notify/_http1_connection.py) speaks in these.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import httpx

__all__ = [
    "DEFAULT_TIMEOUT",
    "Origin",
    "RawResponse",
    "Stale",
    "Timeouts",
    "header_lines",
    "request_head",
]

DEFAULT_TIMEOUT = 5.0
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_BAD_VALUE = re.compile(rb"[\r\n\x00]")


class Origin(NamedTuple):
    """Where a request goes: scheme (``b"http"``/``b"https"``), host, port."""

    scheme: bytes
    host: bytes
    port: int

    @classmethod
    def of(cls, url: httpx.URL) -> Origin:
        """Return the origin of ``url`` (default port by scheme)."""
        scheme = url.raw_scheme
        return cls(scheme, url.raw_host, url.port or (443 if scheme == b"https" else 80))


class Timeouts(NamedTuple):
    """Seconds for connect, read (between bytes), write and the wait for a pool slot."""

    connect: float | None = DEFAULT_TIMEOUT
    read: float | None = DEFAULT_TIMEOUT
    write: float | None = DEFAULT_TIMEOUT
    pool: float | None = DEFAULT_TIMEOUT

    @classmethod
    def of(cls, extension: Mapping[str, float | None]) -> Timeouts:
        """Return the timeouts of httpx's ``timeout`` request extension (5 s if absent)."""
        get = extension.get
        return cls(
            get("connect", DEFAULT_TIMEOUT),
            get("read", DEFAULT_TIMEOUT),
            get("write", DEFAULT_TIMEOUT),
            get("pool", DEFAULT_TIMEOUT),
        )


class RawResponse(NamedTuple):
    """A whole response: status, headers (as received), body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def request_head(method: bytes, target: bytes, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Return the request line and header block, ending with the blank line.

    ``headers`` must include ``host`` and the body's framing (``content-length``).
    Raises ``httpx.LocalProtocolError`` as ``header_lines`` does.
    """
    return b"".join((method, b" ", target, b" HTTP/1.1\r\n", header_lines(headers), b"\r\n"))


def header_lines(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Return ``name: value\\r\\n`` for each header, in order.

    Raises ``httpx.LocalProtocolError`` for a name that is not a token, or a value
    holding CR, LF or NUL (what h11 refuses: they would split the request).
    """
    lines: list[bytes] = []
    for name, value in headers:
        if _TOKEN.fullmatch(name) is None:
            raise httpx.LocalProtocolError(f"illegal header name {name!r}")
        value = value.strip(b" \t")
        if _BAD_VALUE.search(value) is not None:
            raise httpx.LocalProtocolError(f"illegal header value {value!r}")
        lines += (name, b": ", value, b"\r\n")
    return b"".join(lines)


class Stale(Exception):
    """A reused connection was closed by the server before any byte of the response."""
