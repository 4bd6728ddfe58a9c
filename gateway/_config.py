"""The gateway's typed configuration: where it listens, who may connect, and its limits."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from messages import Role

__all__ = ["GatewayConfig", "RegistryConfig", "TokenConfig"]

_MIB = 1024 * 1024


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TokenConfig(_Config):
    """One bearer token and the identity it grants: a user name and its roles.

    Put the secret in the environment, not in a file you commit; the assembler's config
    loader reads it from there. Tokens are compared in constant time.
    """

    token: Annotated[SecretStr, Field(min_length=8)]
    user: Annotated[str, Field(min_length=1, max_length=200)]
    roles: Annotated[tuple[Role, ...], Field(min_length=1)]


class GatewayConfig(_Config):
    """Configure the WebSocket server, its HTTP endpoints and its per-connection limits.

    ``port`` 0 picks a free port (read it back from ``Gateway.port``). ``path`` is the
    WebSocket endpoint; ``/``, ``/healthz``, ``/readyz`` and ``/metrics`` are plain HTTP on
    the same port. ``tls_cert`` and ``tls_key`` (PEM files, both or neither) serve
    ``wss://`` and ``https://`` instead. Limits, all per connection unless named otherwise:

    - ``max_frame_bytes``: a larger frame closes the connection with 1009.
    - ``rate``/``burst``: frames per second on average and at once; beyond them a frame
      is answered ``rate_limited``. ``abuse_burst`` such refusals (refilling at a tenth
      of ``rate``) are tolerated; one more closes the connection with 1008.
    - ``max_pending_bytes``: unsent bytes the server holds for a client that does not
      read (the transport's write buffer) before it disconnects it with 1013.
    - ``send_buffer_bytes``: the kernel's send buffer of each client socket
      (``SO_SNDBUF``; Linux reserves twice that). 0 lets the kernel grow it up to
      ``net.ipv4.tcp_wmem``'s maximum (~4 MB), which a client that does not read fills
      before its unsent bytes reach ``max_pending_bytes``: more memory held, and more
      CPU spent on it, before it is shed.
    - ``max_connections`` (server-wide): one more is closed with 1013 at once.
    - ``max_subscriptions``: subscriptions one connection may hold.

    ``heartbeat_interval``/``heartbeat_timeout``: WebSocket pings that detect dead peers
    (None disables them). ``ask_timeout``: how long a command waits for the alert manager
    or the rules; ``ingest_timeout``: how long an ingest frame waits for room in the
    router's mailbox; ``close_timeout``: how long a closing handshake may take before
    the socket is aborted.
    """

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8765
    path: Annotated[str, Field(pattern=r"^/[A-Za-z0-9._~/-]*$")] = "/ws"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tokens: tuple[TokenConfig, ...] = ()
    max_frame_bytes: Annotated[int, Field(ge=1024)] = 4 * _MIB
    max_connections: Annotated[int, Field(ge=1)] = 10_000
    rate: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 200.0
    burst: Annotated[int, Field(ge=1)] = 400
    abuse_burst: Annotated[int, Field(ge=1)] = 200
    max_pending_bytes: Annotated[int, Field(ge=1024)] = 4 * _MIB
    send_buffer_bytes: Annotated[int, Field(ge=0)] = 256 * 1024
    max_subscriptions: Annotated[int, Field(ge=1)] = 16
    heartbeat_interval: Annotated[float, Field(gt=0)] | None = 20.0
    heartbeat_timeout: Annotated[float, Field(gt=0)] | None = 20.0
    ask_timeout: Annotated[float, Field(gt=0)] = 10.0
    ingest_timeout: Annotated[float, Field(gt=0)] = 30.0
    close_timeout: Annotated[float, Field(gt=0)] = 5.0

    @field_validator("tokens")
    @classmethod
    def _tokens_unique(cls, tokens: tuple[TokenConfig, ...]) -> tuple[TokenConfig, ...]:
        seen: set[str] = set()
        for index, entry in enumerate(tokens):
            secret = entry.token.get_secret_value()
            if secret in seen:
                raise ValueError(f"tokens[{index}] (user {entry.user!r}) repeats another token")
            seen.add(secret)
        return tokens

    @model_validator(mode="after")
    def _tls_pair(self) -> Self:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        return self


class RegistryConfig(_Config):
    """Configure the connection registry's memory of recent events and its heartbeat.

    ``replay_window``: transitions kept in memory, so a client that reconnects within
    them resumes without asking the alert manager. ``max_replay``: the most events a
    resume replays from history; further behind, the client gets a snapshot instead.
    ``max_catch_up``: live events held for one subscription while its history replay is
    fetched (past it the connection is shed with 1013). ``dedupe_window``: notification
    idempotency keys remembered to drop duplicates. ``heartbeat_interval``: how often the
    registry re-checks every connection's unsent bytes (a client that stopped reading
    while no event flowed is shed too). ``ask_timeout``: for its asks to the alert manager.
    """

    replay_window: Annotated[int, Field(ge=1)] = 10_000
    max_replay: Annotated[int, Field(ge=1)] = 100_000
    max_catch_up: Annotated[int, Field(ge=1)] = 100_000
    dedupe_window: Annotated[int, Field(ge=1)] = 10_000
    heartbeat_interval: Annotated[float, Field(gt=0)] = 5.0
    ask_timeout: Annotated[float, Field(gt=0)] = 30.0
