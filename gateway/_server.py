"""Gateway: the websockets server at the edge, with plain HTTP on the same port."""

from __future__ import annotations

import asyncio
import itertools
import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import Self

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from gateway._auth import Authenticator, Unauthorized, presented_token
from gateway._config import GatewayConfig
from gateway._connection import Connection, close_within
from gateway._http import HttpRoutes, Readiness, ReadinessCheck
from gateway._metrics import GatewayMetrics, Scrape
from gateway._registry_requests import Register, Registered, RegistryStatsQuery, Unregister
from gateway._session import Session
from gateway._targets import GatewayTargets
from messages import WelcomeFrame
from supervision import ActorDead, AskTimeout, Clock, RealClock

__all__ = ["SHUTTING_DOWN", "Gateway", "GatewayNotStarted"]

SHUTTING_DOWN = "the server is shutting down"

BACKLOG = 1024
"""Connections the listening socket queues before they are accepted (asyncio's default
is 100). A restart, or a registry's 1012, sends every client back at once; past the
queue the kernel drops their SYNs and they retry a second or more later. Linux caps it
at net.core.somaxconn."""


class GatewayNotStarted(RuntimeError):
    """Raised when asking a gateway that is not serving for its port or URL."""


class Gateway:
    """Serve the wire protocol (docs/PROTOCOL.md) and the HTTP endpoints on one port.

    ``targets`` are the actors frames go to; ``readiness`` is the assembler's probe
    (tree up, store writable), combined with the gateway's own (its targets alive);
    ``metrics`` holds its own ``CollectorRegistry`` and the providers the assembler
    wires (a fresh one by default); ``clock`` times rate limits and close deadlines.

    ``await start()`` binds (port 0: any free port, see ``port``; with ``tls_cert`` and
    ``tls_key``, TLS: ``ssl.SSLError``/``OSError`` if they cannot be loaded); ``await close()``
    stops accepting, closes every connection with 1001 and waits for their handlers.
    ``async with Gateway(...) as gateway:`` does both.
    """

    def __init__(
        self,
        config: GatewayConfig,
        targets: GatewayTargets,
        *,
        readiness: ReadinessCheck | None = None,
        metrics: GatewayMetrics | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.targets = targets
        self.metrics = metrics or GatewayMetrics()
        self._readiness = readiness
        self._clock = clock or RealClock()
        self._authenticator = Authenticator(config.tokens)
        self._routes = HttpRoutes(config.path, self.readiness, self.render_metrics)
        self._connections: dict[str, Connection] = {}
        self._ids = itertools.count(1)
        self._server: Server | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and start serving; a second call is a no-op."""
        if self._server is not None:
            return
        config = self.config
        context = None
        if config.tls_cert is not None and config.tls_key is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(config.tls_cert, config.tls_key)
        self._server = await serve(
            self._handle,
            config.host,
            config.port,
            ssl=context,
            process_request=self._routes.process_request,
            compression=None,
            max_size=config.max_frame_bytes,
            ping_interval=config.heartbeat_interval,
            ping_timeout=config.heartbeat_timeout,
            close_timeout=config.close_timeout,
            server_header="Tocsin",
            backlog=BACKLOG,
        )

    async def close(self, code: int = 1001, reason: str = SHUTTING_DOWN) -> None:
        """Stop accepting, close every connection with ``code``, wait for the handlers."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close(close_connections=False)
        for connection in list(self._connections.values()):
            connection.close(code, reason)
        await server.wait_closed()

    @property
    def port(self) -> int:
        """Return the port the server listens on; ``GatewayNotStarted`` before start."""
        if self._server is None:
            raise GatewayNotStarted("the gateway is not serving: await start() first")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """Return the WebSocket URL clients connect to, e.g. ``ws://127.0.0.1:8765/ws``."""
        scheme = "ws" if self.config.tls_cert is None else "wss"
        return f"{scheme}://{self._host()}:{self.port}{self.config.path}"

    @property
    def http_url(self) -> str:
        """Return the base URL of the HTTP endpoints, e.g. ``http://127.0.0.1:8765``."""
        scheme = "http" if self.config.tls_cert is None else "https"
        return f"{scheme}://{self._host()}:{self.port}"

    def _host(self) -> str:
        host = self.config.host
        return f"[{host}]" if ":" in host else host

    @property
    def connections(self) -> int:
        """Return how many authenticated connections are open."""
        return len(self._connections)

    # -- probes --------------------------------------------------------------------------

    async def readiness(self) -> Readiness:
        """Return whether the gateway and the injected probe say the server is ready."""
        targets = self.targets
        checks: dict[str, bool | str] = {
            "gateway": self._server is not None or "not serving",
            "registry": targets.registry.is_alive() or "not running",
            "alert_manager": targets.alert_manager.is_alive() or "not running",
            "router": targets.router.is_alive() or "not running",
        }
        ready = all(value is True for value in checks.values())
        if self._readiness is not None:
            injected = await self._readiness()
            checks.update(injected.checks)
            ready = ready and injected.ready
        return Readiness(ready, checks)

    async def render_metrics(self) -> bytes:
        """Return the Prometheus exposition text, after asking every provider."""
        metrics, providers, targets = self.metrics, self.metrics.providers, self.targets
        registry = targets.registry

        async def registry_stats() -> object:
            return await registry.ask(RegistryStatsQuery(), timeout=metrics.provider_timeout)

        stats = await metrics.provided("registry", registry_stats, None)
        refs = [targets.router, targets.alert_manager, registry, targets.rules]
        depths: dict[str, float] = {ref.path: ref.mailbox_size() for ref in refs if ref}
        none: Mapping[str, float] = {}
        depths.update(await metrics.provided("mailbox_depths", providers.mailbox_depths, none))
        no_deliveries: Mapping[tuple[str, str], float] = {}
        scrape = Scrape(
            notifications=await metrics.provided(
                "notifications", providers.notifications, no_deliveries
            ),
            actor_restarts=await metrics.provided("actor_restarts", providers.actor_restarts, none),
            mailbox_depths=depths,
            samples_ingested=await metrics.provided(
                "samples_ingested", providers.samples_ingested, none
            ),
            actor_crashes=await metrics.provided("actor_crashes", providers.actor_crashes, none),
            escalations=await metrics.provided("escalations", providers.escalations, none),
            dead_letters=await metrics.provided("dead_letters", providers.dead_letters, none),
            rule_series=await metrics.provided("rule_series", providers.rule_series, {}),
            template_failures=await metrics.provided(
                "template_failures", providers.template_failures, {}
            ),
            tasks=len(asyncio.all_tasks()),
        )
        if stats is not None:
            scrape.alerts_by_state = getattr(stats, "alerts_by_state", {})
            scrape.subscriptions = getattr(stats, "subscriptions", 0)
            scrape.events_pushed = getattr(stats, "events_pushed", 0)
            scrape.notifications_pushed = getattr(stats, "notifications_pushed", 0)
            scrape.resumes = getattr(stats, "replays", {})
        if providers.alerts_by_state is not None:
            scrape.alerts_by_state = await metrics.provided(
                "alerts_by_state", providers.alerts_by_state, scrape.alerts_by_state
            )
        metrics.connections.set(len(self._connections))
        return metrics.render(scrape)

    # -- connections ---------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        config, metrics = self.config, self.metrics
        request = ws.request
        assert request is not None  # the handshake is done
        try:
            identity = self._authenticator.authenticate(
                presented_token(request.path, request.headers)
            )
        except Unauthorized as error:
            metrics.connections_refused.labels("unauthorized").inc()
            await close_within(ws, 1008, error.reason, config.close_timeout, self._clock)
            return
        if len(self._connections) >= config.max_connections:
            metrics.connections_refused.labels("capacity").inc()
            reason = f"too many connections (at most {config.max_connections}): try again later"
            await close_within(ws, 1013, reason, config.close_timeout, self._clock)
            return
        connection = Connection(
            ws,
            f"c{next(self._ids)}",
            identity,
            max_pending_bytes=config.max_pending_bytes,
            close_timeout=config.close_timeout,
            clock=self._clock,
            on_shed=metrics.shed.inc,
            send_buffer_bytes=config.send_buffer_bytes,
        )
        self._connections[connection.connection_id] = connection
        metrics.connections_opened.inc()
        metrics.connections.set(len(self._connections))
        try:
            await self._serve(connection)
        finally:
            self.targets.registry.tell(Unregister(connection.connection_id))
            await connection.wait_closed()
            sent = ws.protocol.close_sent
            if sent is not None and sent.code == 1009:
                metrics.closed_for_abuse.labels("oversized").inc()
            del self._connections[connection.connection_id]
            metrics.connections.set(len(self._connections))

    async def _serve(self, connection: Connection) -> None:
        config, registry = self.config, self.targets.registry
        try:
            registered = await registry.ask(Register(connection), timeout=config.ask_timeout)
        except (AskTimeout, ActorDead):
            connection.close(1013, "the connection registry is unavailable: try again later")
            return
        seq = registered.seq if isinstance(registered, Registered) else 0
        welcome = WelcomeFrame(
            connection_id=connection.connection_id,
            user=connection.identity.user,
            roles=tuple(sorted(connection.identity.roles)),
            max_frame_bytes=config.max_frame_bytes,
            rate=config.rate,
            burst=config.burst,
            heartbeat_interval=config.heartbeat_interval,
            seq=seq,
        )
        try:
            await connection.ws.send(welcome.model_dump_json())
        except ConnectionClosed:
            return
        await Session(connection, self.targets, config, self.metrics, self._clock).run()
