"""What the HTTP channels (webhook, Slack) share: the client, Retry-After, classification."""

from __future__ import annotations

import asyncio
import email.utils
import functools
import math
import urllib.request
from collections.abc import Callable, Mapping

import httpx

from actors.notify._channel import DeliveryError
from actors.notify._transport import (
    Http1Transport,
    Origin,
    RawResponse,
    Timeouts,
    header_lines,
    request_head,
)
from supervision import Clock, RealClock

__all__ = [
    "USER_AGENT",
    "HttpPoster",
    "classify_response",
    "classify_transport_error",
    "parse_retry_after",
]

USER_AGENT = "tocsin-notifier/0.1"
_BODY_EXCERPT = 200


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Return the seconds a ``Retry-After`` header asks to wait, or None if unusable.

    The value is either delay-seconds (``"120"``) or an HTTP-date, which is turned into
    seconds from ``now`` (epoch seconds: the response's ``Date`` when it has one, so the
    two clocks need not agree). A date in the past means 0. Anything else (empty,
    negative, garbage, not finite) is None: the caller backs off as usual.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():  # "²".isdigit() is True too
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None  # RFC 9110 dates are GMT; a date without a zone is not one
    seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def classify_transport_error(error: httpx.HTTPError) -> DeliveryError:
    """Return the ``DeliveryError`` for a request that got no response.

    A request that could not be made (a header value that would split it, a URL of
    another scheme) is a permanent failure: sending it again would fail the same way.
    """
    if isinstance(error, httpx.LocalProtocolError | httpx.UnsupportedProtocol):
        return DeliveryError(
            f"request not sendable: {type(error).__name__}: {error}", retryable=False
        )
    if isinstance(error, httpx.TimeoutException):
        return DeliveryError(f"timed out: {type(error).__name__}", retryable=True)
    if isinstance(error, httpx.TransportError):
        return DeliveryError(f"connection failed: {type(error).__name__}: {error}", retryable=True)
    return DeliveryError(f"request failed: {type(error).__name__}: {error}", retryable=False)


def classify_response(response: httpx.Response, *, now: float) -> DeliveryError | None:
    """Return None for a 2xx response, else the ``DeliveryError`` that describes it.

    5xx and 429 are retryable; 429 and 503 carry their ``Retry-After`` (seconds or an
    HTTP-date, from the response's ``Date`` if present, else ``now``). Every other
    status (3xx: redirects are not followed; 4xx) is a permanent failure.
    """
    status = response.status_code
    if 200 <= status < 300:
        return None
    excerpt = response.text[:_BODY_EXCERPT].strip()
    message = f"HTTP {status}" + (f": {excerpt}" if excerpt else "")
    if status == 429 or status >= 500:
        retry_after = None
        if status in (429, 503):
            retry_after = parse_retry_after(
                response.headers.get("retry-after"), now=_date(response, now)
            )
        return DeliveryError(message, retryable=True, retry_after=retry_after)
    return DeliveryError(message, retryable=False)


def _date(response: httpx.Response, default: float) -> float:
    value = response.headers.get("date")
    if value:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return default
        if when.tzinfo is not None:
            return when.timestamp()
    return default


class HttpPoster:
    """One ``httpx.AsyncClient`` per receiver, with explicit timeouts and pool limits.

    ``open`` builds the client (``send`` opens it if needed), ``post`` raises
    ``DeliveryError``, ``close`` is idempotent. httpx's own retries stay off: the
    notifier retries (with backoff, and with the circuit breaker watching).
    ``transport`` replaces the network (tests of error paths). ``headers`` go with every
    request, before ``post``'s own (checked and written once, not per request).

    By default the requests go straight to an ``Http1Transport`` as bytes (httptools'
    parser on asyncio protocols, a keep-alive pool of ``max_connections``): httpx's own
    transport cost ~2 ms of CPU per request here, ``AsyncClient``'s per-request
    machinery (URL merging, cookies, auth, redirect handling, none of which a webhook
    uses) about as much, and ``httpx.Request``/``httpx.Response`` objects alone ~0.1 ms;
    an ``httpx.Response`` is built only to describe a failure. With ``transport``
    given, or with ``trust_env`` set and a proxy named in the environment, an
    ``httpx.AsyncClient`` sends them (it is the one that speaks to proxies).
    """

    def __init__(
        self,
        *,
        timeout: float,
        connect_timeout: float | None = None,
        max_connections: int,
        trust_env: bool,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._headers = dict(headers or {})
        self._header_block: bytes | None = None
        self._timeout = httpx.Timeout(
            timeout, connect=timeout if connect_timeout is None else connect_timeout
        )
        self._limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._trust_env = trust_env
        self._clock: Clock = clock or RealClock()
        self._transport = transport
        self._max_connections = max_connections
        self._timeouts = Timeouts.of(self._timeout.as_dict())
        self._targets: dict[str, tuple[httpx.URL, Origin, bytes]] = {}
        self._direct: Http1Transport | None = None
        self._client: httpx.AsyncClient | None = None

    async def open(self) -> None:
        """Build the client (no connection is made until the first request)."""
        if self._client is not None or self._direct is not None:
            return
        if self._transport is None and not (self._trust_env and urllib.request.getproxies()):
            self._direct = Http1Transport(max_connections=self._max_connections)
            return
        self._client = httpx.AsyncClient(
            timeout=self._timeout,
            limits=self._limits,
            trust_env=self._trust_env,
            follow_redirects=False,
            headers={"user-agent": USER_AGENT},
            transport=self._transport,
        )

    def can_start(self, url: str) -> bool:
        """Say whether ``start_post`` to ``url`` would begin at once (see ``start_post``)."""
        direct = self._direct
        if direct is None:
            return False
        target = self._targets.get(url)
        if target is None:
            try:
                target = self._targets[url] = _target(url)
            except httpx.HTTPError:
                return False  # ``post`` raises it, as a DeliveryError
        return direct.ready(target[1])

    def start_post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        done: Callable[[BaseException | None], None],
    ) -> bool:
        """Begin ``post`` without awaiting it; say whether it began.

        Then ``done(None)`` is called on a 2xx answer, ``done(error)`` with what ``post``
        would raise otherwise, always later, never from inside ``start_post`` (see
        ``Http1Transport.start``). It begins whenever ``can_start`` said it would; False
        otherwise (no direct transport, no slot free): nothing was done, use ``post``.
        """
        direct = self._direct
        if direct is None:
            return False
        target = self._targets.get(url)
        fixed = self._header_block
        try:
            if target is None:
                target = self._targets[url] = _target(url)
            if fixed is None:
                fixed = self._header_block = _lines(self._headers)
            lines = _lines(headers)
        except httpx.HTTPError as error:  # raised before anything is sent, as post's
            asyncio.get_running_loop().call_soon(done, classify_transport_error(error))
            return True
        parsed, origin, prefix = target
        length = b"content-length: %d\r\n\r\n" % len(body)
        data = b"".join((prefix, fixed, lines, length, body))
        answered = functools.partial(self._answered, parsed, done)
        return direct.start(origin, data, self._timeouts, answered)

    def _answered(
        self,
        url: httpx.URL,
        done: Callable[[BaseException | None], None],
        raw: RawResponse | None,
        error: BaseException | None,
    ) -> None:
        # ``done`` hears of every outcome, even one this classification raises on: a
        # send begun by callback that is never answered stays in flight for good.
        outcome: BaseException | None = error
        try:
            if raw is not None:
                outcome = None
                if not 200 <= raw.status < 300:
                    outcome = classify_response(_response(url, raw), now=self._clock.time())
            elif isinstance(error, httpx.HTTPError):
                outcome = classify_transport_error(error)
        except httpx.HTTPError as failure:  # as ``post``: a body its encoding cannot decode
            outcome = classify_transport_error(failure)
        except Exception as bug:
            outcome = bug
        done(outcome)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """POST ``body`` with the poster's headers and ``headers``; return on a 2xx
        answer, else raise ``DeliveryError``."""
        if self._client is None and self._direct is None:
            await self.open()
        try:
            if self._direct is not None:
                target = self._targets.get(url)
                if target is None:
                    target = self._targets[url] = _target(url)
                parsed, origin, prefix = target
                fixed = self._header_block
                if fixed is None:  # raises as every request would: not kept then
                    fixed = self._header_block = _lines(self._headers)
                lines = _lines(headers)
                length = b"content-length: %d\r\n\r\n" % len(body)
                data = b"".join((prefix, fixed, lines, length, body))
                raw = await self._direct.exchange(origin, data, self._timeouts)
                if 200 <= raw.status < 300:
                    return
                response = _response(parsed, raw)
            else:
                assert self._client is not None
                response = await self._client.post(
                    url, content=body, headers={**self._headers, **headers}
                )
        except httpx.HTTPError as error:
            raise classify_transport_error(error) from error
        failure = classify_response(response, now=self._clock.time())
        if failure is not None:
            raise failure

    async def close(self) -> None:
        """Close the client and its connections; idempotent."""
        client, self._client = self._client, None
        direct, self._direct = self._direct, None
        if direct is not None:
            await direct.aclose()
        if client is not None:
            await client.aclose()


# ``name: `` of each header name checked so far: the names a poster sends are few (its
# configuration's, the idempotency and signature headers), its values new every request.
_CHECKED_NAMES: dict[str, bytes] = {}
_MAX_CHECKED_NAMES = 1024


def _lines(headers: Mapping[str, str]) -> bytes:
    """Return ``header_lines`` of ``headers``: the same bytes, refusing the same input."""
    lines: list[bytes] = []
    for name, value in headers.items():
        prefix = _CHECKED_NAMES.get(name)
        if prefix is None:
            prefix = header_lines([(name.encode("ascii"), b"")])[:-2]  # b"name: "
            if len(_CHECKED_NAMES) < _MAX_CHECKED_NAMES:
                _CHECKED_NAMES[name] = prefix
        text = value.strip(" \t")
        # What header_lines refuses in a value, searched in the str: three ``in`` tests
        # cost a fraction of a regular expression's search.
        if "\r" in text or "\n" in text or "\x00" in text:
            raise httpx.LocalProtocolError(f"illegal header value {text.encode()!r}")
        lines += (prefix, text.encode(), b"\r\n")
    return b"".join(lines)


def _target(url: str) -> tuple[httpx.URL, Origin, bytes]:
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(f"unsupported scheme {parsed.scheme!r}")
    prefix = request_head(
        b"POST", parsed.raw_path, [(b"host", parsed.netloc), (b"user-agent", USER_AGENT.encode())]
    )[:-2]  # without the blank line: the request's own headers follow
    return parsed, Origin.of(parsed), prefix


def _response(url: httpx.URL, raw: RawResponse) -> httpx.Response:
    return httpx.Response(
        raw.status,
        headers=raw.headers,
        content=raw.body,
        request=httpx.Request("POST", url),
        extensions={"http_version": b"HTTP/1.1"},
    )
