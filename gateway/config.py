"""Tocsin's configuration: one typed model, loaded from TOML, with defaults that work.

``TocsinConfig()`` (no file at all) is a working server: SQLite in the data directory
(``$TOCSIN_DATA_DIR`` or ``./data``), the host collector on, one WebSocket receiver with
every alert routed to it, the gateway on 127.0.0.1:8765. ``load_config(path)`` reads a
TOML file; ``ConfigInvalid`` names every bad field and the reason. See
docs/CONFIGURATION.md for a full example.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from pydantic import (
    Field,
    ValidationError,
    model_validator,
)

from actors import check_rules
from actors.alerting import AlertManagerConfig, EscalationPolicy, InhibitRule, RouteConfig
from actors.notify import NotifiersConfig, WebSocketReceiverConfig
from gateway._config import GatewayConfig, RegistryConfig, TokenConfig
from gateway._config_sections import (
    DATA_DIR_ENV,
    MEMORY,
    AlertManagerSection,
    AuthConfig,
    CollectorsConfig,
    HostCollectorConfig,
    LimitsConfig,
    RulesConfig,
    Section,
    ServerConfig,
    SilenceConfig,
    StoreConfig,
    TokenEntry,
    data_dir,
)
from messages import (
    RuleInvalid,
    parse_rules_toml,
)

__all__ = [
    "DATA_DIR_ENV",
    "MEMORY",
    "AuthConfig",
    "CollectorsConfig",
    "ConfigInvalid",
    "HostCollectorConfig",
    "LimitsConfig",
    "RulesConfig",
    "ServerConfig",
    "SilenceConfig",
    "StoreConfig",
    "TocsinConfig",
    "TokenEntry",
    "data_dir",
    "load_config",
    "parse_config",
]


def _default_receivers() -> NotifiersConfig:
    return NotifiersConfig(websocket=WebSocketReceiverConfig())


class TocsinConfig(Section):
    """Everything ``AlertSystem`` and ``tocsin serve`` need; every section has defaults.

    ``route`` None routes every alert to the WebSocket receiver (if there is one).
    ``escalation_policies`` are named by routes; ``silences`` are held while it runs.
    """

    server: ServerConfig = Field(default_factory=ServerConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    receivers: NotifiersConfig = Field(default_factory=_default_receivers)
    route: RouteConfig | None = None
    escalation_policies: tuple[EscalationPolicy, ...] = ()
    inhibit_rules: tuple[InhibitRule, ...] = ()
    silences: tuple[SilenceConfig, ...] = ()
    collectors: CollectorsConfig = Field(default_factory=CollectorsConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    alert_manager: AlertManagerSection = Field(default_factory=AlertManagerSection)

    @model_validator(mode="after")
    def _alerting_is_consistent(self) -> Self:
        self.alert_manager_config()  # routes name known policies, matchers compile
        known = {receiver.name for receiver in self.receivers.receivers()}
        route = self.effective_route()
        unknown = sorted(_route_receivers(route) - known) if route is not None else []
        for policy in self.escalation_policies:
            for level in policy.levels:
                unknown.extend(r for r in level.receivers if r not in known)
        if unknown:
            raise ValueError(
                f"route or escalation names unknown receivers {sorted(set(unknown))}; "
                f"configured receivers: {sorted(known)}"
            )
        return self

    def effective_route(self) -> RouteConfig | None:
        """Return ``route``, or by default one sending everything to the WebSocket receiver."""
        if self.route is not None:
            return self.route
        websocket = self.receivers.websocket
        return None if websocket is None else RouteConfig(receiver=websocket.name)

    def receiver_users(self) -> dict[str, tuple[str, ...]]:
        """Return receiver name → what names it: ``route`` and ``escalation policy 'x'``.

        Such receivers cannot be deleted at run time (the route would lose its target).
        """
        users: dict[str, list[str]] = {}
        route = self.effective_route()
        if route is not None:
            for name in sorted(_route_receivers(route)):
                users.setdefault(name, []).append("the route")
        for policy in self.escalation_policies:
            for name in sorted({r for level in policy.levels for r in level.receivers}):
                users.setdefault(name, []).append(f"escalation policy {policy.name!r}")
        return {name: tuple(found) for name, found in users.items()}

    def alert_manager_config(self) -> AlertManagerConfig:
        """Return the alert manager's part of this configuration."""
        return AlertManagerConfig(
            route=self.effective_route(),
            escalation_policies=self.escalation_policies,
            inhibit_rules=self.inhibit_rules,
            max_resolved=self.alert_manager.max_resolved,
            max_ended_silences=self.alert_manager.max_ended_silences,
        )

    def gateway_config(self, extra_tokens: tuple[TokenConfig, ...] = ()) -> GatewayConfig:
        """Return the gateway's part: server, tokens (plus ``extra_tokens``) and limits."""
        tokens = tuple(
            TokenConfig.model_validate(
                {"token": entry.secret(), "user": entry.user, "roles": entry.roles}
            )
            for entry in self.auth.tokens
        )
        server = self.server.model_dump(exclude={"enabled", "event_loop", "gc_gen0_threshold"})
        limits = self.limits.model_dump(exclude={"router_mailbox"})
        return GatewayConfig.model_validate(
            {**server, **limits, "tokens": (*tokens, *extra_tokens)}
        )


def _route_receivers(route: RouteConfig) -> set[str]:
    found = {route.receiver} if route.receiver is not None else set()
    for child in route.routes:
        found |= _route_receivers(child)
    return found


class ConfigInvalid(ValueError):
    """The configuration cannot be used. ``problems``: (dotted field, reason) pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: {len(problems)} problem(s)"]
        lines += [f"  {field or '(top level)'}: {reason}" for field, reason in problems]
        super().__init__("\n".join(lines))


def _problems(error: ValidationError) -> list[tuple[str, str]]:
    return [
        (".".join(str(part) for part in item["loc"]), item["msg"].removeprefix("Value error, "))
        for item in error.errors(include_url=False)
    ]


def _rule_problem(exc: Exception) -> str:
    """Return ``exc`` with the position of the rule in its list, if it does not say it."""
    index = getattr(exc, "index", None)
    text = str(exc)
    if index is None or f"rules[{index}]" in text:
        return text
    return f"rules[{index}]: {text}"


def parse_config(
    data: Mapping[str, Any], *, source: str = "config", base: Path | None = None
) -> TocsinConfig:
    """Validate ``data`` (parsed TOML) as a ``TocsinConfig``; raise ``ConfigInvalid``.

    Relative rule files and TLS files are taken relative to ``base``; each rule file is
    read and checked too.
    """
    try:
        config = TocsinConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigInvalid(source, _problems(exc)) from None
    if base is not None:
        config = _relative_to(config, base)
    problems: list[tuple[str, str]] = []
    # What the rule set checks beyond the models (templates compile, ids unique) is checked
    # here too, so a bad rule stops the start before anything runs, naming its field.
    try:
        check_rules(config.rules.inline)
    except RuleInvalid as exc:
        problems.append((f"rules.inline.{exc.index}", _rule_problem(exc)))
    for index, path in enumerate(config.rules.files):
        try:
            check_rules(parse_rules_toml(path.read_text(encoding="utf-8")))
        except OSError as exc:
            problems.append((f"rules.files.{index}", f"cannot read {path}: {exc.strerror}"))
        except (RuleInvalid, tomllib.TOMLDecodeError) as exc:
            problems.append((f"rules.files.{index}", f"{path}: {_rule_problem(exc)}"))
    # An email password is read from its variable when the channel starts; a variable that
    # is not set would stop `tocsin serve` then, so check-config says so now, by field.
    for index, email in enumerate(config.receivers.email):
        if email.password_env is not None and not os.environ.get(email.password_env):
            problems.append(
                (
                    f"receivers.email.{index}.password_env",
                    f"environment variable {email.password_env} is not set or empty",
                )
            )
    for name, pem in (
        ("server.tls_cert", config.server.tls_cert),
        ("server.tls_key", config.server.tls_key),
    ):
        if pem is not None and not pem.is_file():
            problems.append((name, f"no such file: {pem}"))
    if problems:
        raise ConfigInvalid(source, problems)
    return config


def _relative_to(config: TocsinConfig, base: Path) -> TocsinConfig:
    def fix(path: Path | None) -> Path | None:
        if path is None or path.is_absolute():
            return path
        return base / path

    files = tuple(path if path.is_absolute() else base / path for path in config.rules.files)
    server = config.server.model_copy(
        update={"tls_cert": fix(config.server.tls_cert), "tls_key": fix(config.server.tls_key)}
    )
    rules = config.rules.model_copy(update={"files": files})
    return config.model_copy(update={"server": server, "rules": rules})


def load_config(path: Path | str | None) -> TocsinConfig:
    """Load the TOML file at ``path`` (None: the defaults); raise ``ConfigInvalid``.

    Raises ``ConfigInvalid`` too when the file cannot be read or is not valid TOML.
    """
    if path is None:
        return TocsinConfig()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigInvalid(str(path), [("", f"cannot read the file: {exc.strerror}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigInvalid(str(path), [("", f"not valid TOML: {exc}")]) from None
    return parse_config(data, source=str(path), base=path.parent)
