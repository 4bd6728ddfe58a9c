"""The sections of Tocsin's configuration (``[server]``, ``[auth]``, ``[store]``,
``[rules]``, ``[collectors]``, ``[limits]``, ``[alerting]``...), each a typed model with
defaults that work; ``config.TocsinConfig`` puts them together and loads them from TOML.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from actors.evaluation import DEFAULT_SERIES_IDLE_TTL
from messages import CompositeRule, Matchers, Role, RuleInvalid, ThresholdRule, validate_rules

__all__ = [
    "DATA_DIR_ENV",
    "MEMORY",
    "AlertManagerSection",
    "AuthConfig",
    "CollectorsConfig",
    "HostCollectorConfig",
    "LimitsConfig",
    "RulesConfig",
    "Section",
    "ServerConfig",
    "SilenceConfig",
    "StoreConfig",
    "TokenEntry",
    "data_dir",
]

DATA_DIR_ENV = "TOCSIN_DATA_DIR"
"""The environment variable naming the data directory (default ``./data``)."""

MEMORY = ":memory:"
"""``store.path`` for a store that keeps nothing after the process (tests, demos)."""

_MIB = 1024 * 1024


def data_dir() -> Path:
    """Return the data directory: ``$TOCSIN_DATA_DIR``, else ``./data``."""
    return Path(os.environ.get(DATA_DIR_ENV) or "data")


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServerConfig(Section):
    """Where the gateway listens. ``enabled = false`` runs without one (embedded use).

    ``tls_cert``/``tls_key``: PEM files, both or neither; with them the gateway serves
    ``wss://`` and ``https://``.

    ``event_loop``: the event loop ``tocsin serve`` and ``tocsin demo`` run on: ``uvloop``
    (libuv, in C: about a third less CPU per webhook notification) or ``asyncio`` (the
    standard library's). An embedded ``AlertSystem`` ignores it and runs on whatever
    loop its host program runs.

    ``gc_gen0_threshold``: once the tree is up, ``tocsin serve`` and ``tocsin demo``
    freeze what start-up made (the cyclic garbage collector skips it from then on) and
    collect the young generation every this many allocations (CPython's default is
    700): ``actors.apply_gc_policy`` with ``gc_thresholds()``, whose docstring says why
    and what it saved; 0 leaves the collector as Python set it. Like ``event_loop``, an
    embedded ``AlertSystem`` ignores it.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8765
    path: Annotated[str, Field(pattern=r"^/[A-Za-z0-9._~/-]*$")] = "/ws"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    gc_gen0_threshold: Annotated[int, Field(ge=0)] = 10_000

    def gc_thresholds(self) -> tuple[int, int, int] | None:
        """Return the collector thresholds ``tocsin serve`` sets once up (the young
        generation's from ``gc_gen0_threshold``, CPython's others), or None to leave it."""
        return (self.gc_gen0_threshold, 10, 10) if self.gc_gen0_threshold else None

    @model_validator(mode="after")
    def _tls_pair(self) -> Self:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        return self


class TokenEntry(Section):
    """One bearer token: ``token`` inline, or ``token_env`` naming an environment variable.

    Prefer ``token_env``: the secret then stays out of the file. The variable is read
    when the config is loaded; an unset or empty one is an error naming it.
    """

    user: Annotated[str, Field(min_length=1, max_length=200)]
    roles: Annotated[tuple[Role, ...], Field(min_length=1)]
    token: SecretStr | None = None
    token_env: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.token is None) == (self.token_env is None):
            raise ValueError("give exactly one of token and token_env")
        if self.token_env is not None and not os.environ.get(self.token_env):
            raise ValueError(f"environment variable {self.token_env} is not set or empty")
        if len(self.secret()) < 8:
            raise ValueError("the token must be at least 8 characters")
        return self

    def secret(self) -> str:
        """Return the token's secret value (from the environment for ``token_env``)."""
        if self.token is not None:
            return self.token.get_secret_value()
        return os.environ.get(self.token_env or "", "")


class AuthConfig(Section):
    """Who may connect. No tokens: ``tocsin serve`` makes an admin token at start
    (``$TOCSIN_TOKEN`` if set, else a random one written to ``<data dir>/admin-token``)."""

    tokens: tuple[TokenEntry, ...] = ()


class StoreConfig(Section):
    """Durable state. ``path``: a SQLite file (default ``<data dir>/tocsin.db``), or
    ``":memory:"`` to keep nothing. ``synchronous``: SQLite's ``full`` or ``normal``."""

    path: str | None = None
    synchronous: Literal["full", "normal"] = "full"

    def resolved_path(self) -> str:
        """Return the store's path with the default filled in."""
        return self.path if self.path is not None else str(data_dir() / "tocsin.db")


class RulesConfig(Section):
    """Rules: ``inline`` tables (as in a rules file's ``[[rules]]``) and rule ``files``.

    Relative file paths are relative to the config file.  ``series_idle_ttl``: seconds
    without a sample before an evaluator forgets an inactive series (docs/RULES.md,
    "Idle series are forgotten"; raised to the rule's longest window).
    ``max_series_per_rule``: past it, an evaluator refuses the samples of new series
    (0: no cap; "Series limits").
    """

    inline: tuple[ThresholdRule | CompositeRule, ...] = ()
    files: tuple[Path, ...] = ()
    series_idle_ttl: Annotated[float, Field(gt=0, allow_inf_nan=False)] = DEFAULT_SERIES_IDLE_TTL
    max_series_per_rule: Annotated[int, Field(ge=0)] = 100_000

    @field_validator("inline", mode="before")
    @classmethod
    def _validate_rules(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            try:
                return validate_rules(list(value))
            except RuleInvalid as exc:
                raise ValueError(str(exc)) from None
        return value


class SilenceConfig(Section):
    """A silence to hold while the server runs: created at start unless one with the
    same matchers and comment is active, for ``duration`` seconds."""

    matchers: Annotated[Matchers, Field(min_length=1)]
    comment: str = "from the configuration"
    duration: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 365 * 24 * 3600.0


class HostCollectorConfig(Section):
    """The host's CPU, memory, disk and load as ``host_*`` samples every ``interval`` s."""

    enabled: bool = True
    interval: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 10.0
    mounts: tuple[str, ...] | None = None


class CollectorsConfig(Section):
    """Metric sources inside the process."""

    host: HostCollectorConfig = Field(default_factory=HostCollectorConfig)


class LimitsConfig(Section):
    """Per-connection limits of the gateway (see ``GatewayConfig`` for each meaning), and
    ``router_mailbox``: how many sample batches may wait for the metric router.

    Past ``router_mailbox`` an ingesting connection waits for room (up to
    ``ingest_timeout`` seconds) and stops reading its socket meanwhile, so TCP slows the
    client down instead of the server buffering without bound.
    """

    max_frame_bytes: Annotated[int, Field(ge=1024)] = 4 * _MIB
    max_connections: Annotated[int, Field(ge=1)] = 10_000
    rate: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 200.0
    burst: Annotated[int, Field(ge=1)] = 400
    abuse_burst: Annotated[int, Field(ge=1)] = 200
    max_pending_bytes: Annotated[int, Field(ge=1024)] = 4 * _MIB
    send_buffer_bytes: Annotated[int, Field(ge=0)] = 256 * 1024
    max_subscriptions: Annotated[int, Field(ge=1)] = 16
    ingest_timeout: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 30.0
    router_mailbox: Annotated[int, Field(ge=1)] = 256


class AlertManagerSection(Section):
    """``[alert_manager]``: how much closed state the alert manager keeps in memory.

    ``max_resolved`` resolved alerts (and ``max_ended_silences`` ended silences) stay
    queryable by id; older ones live on in the history only. Memory grows with them
    until the bound is reached (about 2 KB per resolved alert).
    """

    max_resolved: Annotated[int, Field(ge=0)] = 10_000
    max_ended_silences: Annotated[int, Field(ge=0)] = 1_000
