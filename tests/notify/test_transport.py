"""Http1Transport against real loopback HTTP servers: keep-alive, bodies, failures, TLS."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import AsyncIterator

import httpx
import pytest

from actors.notify._http import USER_AGENT, HttpPoster
from actors.notify._transport import Http1Transport
from tests.notify.conftest import LoopbackCertificate
from tests.notify.http_server import HANG, Gate, HttpServer, Respond, closed_port_url

pytestmark = pytest.mark.timeout(30)

CLOSE_AFTER = object()
"""A raw reply marker: after this reply, close the connection (without saying so)."""
DROP = b""
"""A raw reply: read the request, then close the connection without answering."""


class RawServer:
    """Answer each request with the next scripted raw bytes; count connections and requests."""

    def __init__(self, *replies: bytes | object, context: ssl.SSLContext | None = None) -> None:
        self.script: deque[bytes | object] = deque(replies)
        self.context = context
        self.connections = 0
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.context)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.wait(list(self._handlers))
        await self._server.wait_closed()

    def url(self, scheme: str = "http", host: str = "127.0.0.1") -> str:
        assert self._server is not None
        return f"{scheme}://{host}:{self._server.sockets[0].getsockname()[1]}/hook"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                self.requests.append(head + await reader.readexactly(length))
                reply = self.script.popleft() if self.script else _ok(b"ok")
                if reply == DROP:
                    return
                assert isinstance(reply, bytes)
                writer.write(reply)
                await writer.drain()
                if self.script and self.script[0] is CLOSE_AFTER:
                    self.script.popleft()
                    return
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError, asyncio.CancelledError):
                await writer.wait_closed()
            self._handlers.discard(task)


def _ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body


CHUNKED = (
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = Http1Transport(max_connections=2)
    async with httpx.AsyncClient(
        transport=transport, timeout=httpx.Timeout(10.0), trust_env=False
    ) as made:
        yield made


async def test_requests_reuse_one_keep_alive_connection(
    client: httpx.AsyncClient, http_server: HttpServer
) -> None:
    http_server.script(Respond(201, body=b"first"), Respond(200, {"x-a": "b"}, b"second"))
    first = await client.post(http_server.url, content=b'{"n": 1}', headers={"k": "v"})
    second = await client.post(http_server.url, content=b'{"n": 2}')
    third = await client.post(http_server.url, content=b"")
    assert (first.status_code, first.text) == (201, "first")
    assert (second.status_code, second.text, second.headers["x-a"]) == (200, "second", "b")
    assert third.status_code == 200
    assert http_server.connections == 1
    assert [r.body for r in http_server.requests] == [b'{"n": 1}', b'{"n": 2}', b""]
    assert http_server.requests[0].headers["k"] == "v"
    assert http_server.requests[0].method == "POST"


async def test_a_chunked_response_is_read_whole_and_the_connection_reused(
    client: httpx.AsyncClient,
) -> None:
    async with RawServer(CHUNKED, _ok(b"again")) as server:
        first = await client.post(server.url(), content=b"x")
        second = await client.post(server.url(), content=b"y")
    assert first.text == "hello world"
    assert second.text == "again"
    assert server.connections == 1


async def test_a_response_until_close_is_read_and_not_reused(client: httpx.AsyncClient) -> None:
    raw = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nto the end"
    async with RawServer(raw, CLOSE_AFTER, _ok(b"new")) as server:
        first = await client.post(server.url(), content=b"x")
        second = await client.post(server.url(), content=b"y")
    assert (first.text, second.text) == ("to the end", "new")
    assert server.connections == 2


async def test_a_refused_connection_is_a_connect_error(client: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.ConnectError):
        await client.post(closed_port_url(), content=b"x")


async def test_a_hanging_response_is_a_read_timeout(http_server: HttpServer) -> None:
    http_server.script(HANG)
    async with httpx.AsyncClient(
        transport=Http1Transport(), timeout=httpx.Timeout(0.2, connect=10.0), trust_env=False
    ) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(http_server.url, content=b"x")
        await http_server.until(lambda: http_server.abandoned == 1)
        # The timed-out connection is not reused: the next request gets a new one.
        assert (await client.post(http_server.url, content=b"y")).status_code == 200
    assert http_server.connections == 2


async def test_a_keep_alive_connection_closed_between_requests_is_replaced(
    client: httpx.AsyncClient,
) -> None:
    # The server closes after answering, without "connection: close": whether the client
    # notices before reusing it or only when its request meets the closed socket, the
    # request goes out once more on a new connection and succeeds.
    async with RawServer(_ok(b"one"), CLOSE_AFTER, _ok(b"two")) as server:
        assert (await client.post(server.url(), content=b"x")).text == "one"
        assert (await client.post(server.url(), content=b"y")).text == "two"
    assert server.connections == 2


async def test_a_reused_connection_dropped_on_the_request_is_retried_once_on_a_new_one(
    client: httpx.AsyncClient,
) -> None:
    # The reused connection reads the request and closes without a byte of answer (the
    # server's idle timeout raced the request): the same request, same headers, is sent
    # again on a new connection; receivers deduplicate by its Idempotency-Key.
    async with RawServer(_ok(b"one"), DROP, _ok(b"two")) as server:
        assert (await client.post(server.url(), content=b"x")).text == "one"
        response = await client.post(server.url(), content=b"y", headers={"k": "same"})
    assert response.text == "two"
    assert server.connections == 2
    assert server.requests[1] == server.requests[2]


async def test_a_new_connection_dropped_without_an_answer_is_not_retried(
    client: httpx.AsyncClient,
) -> None:
    async with RawServer(DROP) as server:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(server.url(), content=b"x")
    assert len(server.requests) == 1


async def test_a_truncated_response_is_a_protocol_error(client: httpx.AsyncClient) -> None:
    truncated = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"
    async with RawServer(truncated, CLOSE_AFTER) as server:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(server.url(), content=b"x")


async def test_requests_beyond_the_limit_wait_for_a_slot(http_server: HttpServer) -> None:
    gate = Gate(Respond(body=b"held"))
    http_server.script(gate)
    async with httpx.AsyncClient(
        transport=Http1Transport(max_connections=1),
        timeout=httpx.Timeout(10.0, pool=0.1),
        trust_env=False,
    ) as client:
        held = asyncio.ensure_future(client.post(http_server.url, content=b"1"))
        await http_server.until(lambda: http_server.hanging == 1)
        with pytest.raises(httpx.PoolTimeout):
            await client.post(http_server.url, content=b"2")
        gate.open()
        assert (await held).text == "held"
        assert (await client.post(http_server.url, content=b"3")).status_code == 200
    assert http_server.connections == 1


async def test_https_with_the_given_context(certificate: LoopbackCertificate) -> None:
    trusted = ssl.create_default_context(cafile=str(certificate.cert))
    async with (
        RawServer(_ok(b"secure"), context=certificate.server_context()) as server,
        httpx.AsyncClient(
            transport=Http1Transport(ssl_context=trusted), timeout=10.0, trust_env=False
        ) as client,
    ):
        first = await client.post(server.url("https", "localhost"), content=b"x")
        second = await client.post(server.url("https", "localhost"), content=b"y")
    assert (first.text, second.status_code) == ("secure", 200)
    assert server.connections == 1


async def test_an_untrusted_certificate_is_a_connect_error(
    certificate: LoopbackCertificate,
) -> None:
    async with (
        RawServer(context=certificate.server_context()) as server,
        httpx.AsyncClient(transport=Http1Transport(), timeout=10.0, trust_env=False) as client,
    ):
        with pytest.raises(httpx.ConnectError):
            await client.post(server.url("https", "localhost"), content=b"x")


async def test_a_closed_transport_refuses_requests(http_server: HttpServer) -> None:
    transport = Http1Transport()
    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
        assert (await client.post(http_server.url, content=b"x")).status_code == 200
    with pytest.raises(RuntimeError):
        await transport.handle_async_request(httpx.Request("POST", http_server.url))


async def test_a_poster_trusting_the_environment_goes_through_its_proxy(
    http_server: HttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Http1Transport speaks no proxy protocol: with a proxy in the environment (and
    # trust_env), HttpPoster falls back to httpx's client, which sends it there.
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{http_server.port}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{http_server.port}")
    poster = HttpPoster(timeout=10.0, max_connections=1, trust_env=True)
    try:
        await poster.post("http://hooks.example.invalid/hook", b"{}", {"k": "v"})
    finally:
        await poster.close()
    (request,) = await http_server.wait_requests(1)
    assert request.path == "http://hooks.example.invalid/hook"
    assert request.headers["k"] == "v"


async def test_a_poster_ignoring_the_environment_posts_directly(
    http_server: HttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", closed_port_url())
    monkeypatch.setenv("http_proxy", closed_port_url())
    poster = HttpPoster(timeout=10.0, max_connections=1, trust_env=False)
    try:
        await poster.post(http_server.url, b"{}", {"k": "v"})
        await poster.post(http_server.url, b"{}", {"k": "w"})
    finally:
        await poster.close()
    first, second = await http_server.wait_requests(2)
    assert (first.path, first.headers["user-agent"]) == ("/hook", USER_AGENT)
    assert second.headers["k"] == "w"
    assert http_server.connections == 1


async def test_bytes_after_a_response_retire_its_connection(client: httpx.AsyncClient) -> None:
    # Unasked bytes (here a 408 sent right after the answer, as some servers do before
    # closing an idle connection) must not be taken for the next request's answer.
    unasked = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n"
    async with RawServer(_ok(b"one") + unasked, _ok(b"two")) as server:
        assert (await client.post(server.url(), content=b"x")).text == "one"
        second = await client.post(server.url(), content=b"y")
    assert (second.status_code, second.text) == (200, "two")
    assert server.connections == 2
