"""The notifiers' configuration: receivers per channel kind, and each one's delivery policy.

In TOML (the section name is the assembler's choice)::

    [[notify.webhook]]
    name = "ops"
    url = "https://hooks.example.org/tocsin"
    payload = "alertmanager"            # or "tocsin" (the default)
    hmac_secret = "..."                 # optional: X-Tocsin-Signature: sha256=<hex>

    [[notify.slack]]
    name = "team-chat"
    url = "https://hooks.slack.com/services/..."

    [notify.websocket]                  # live clients, through the connection registry

    [notify.delivery.ops]               # optional, per receiver: overrides the kind's defaults
    rate = 5
    max_attempts = 20

Email receivers (``[[notify.email]]``) are ``EmailReceiverConfig`` (actors/notify/_email_config.py).
A bad field is named with the reason (pydantic), and so are duplicate receiver names and
templates (``[notify.templates.<channel>.<scope>]``) that do not compile.
"""

from __future__ import annotations

import os
import random
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from actors.notify._circuit import CircuitBreaker
from actors.notify._email import EmailReceiverConfig
from actors.notify._retry import RetryPolicy
from actors.notify._scheduler import DeliveryScheduler
from actors.notify._templates import TemplateInvalid, TemplatesConfig, check_templates
from actors.notify._token_bucket import TokenBucket

__all__ = [
    "DEFAULT_DELIVERY",
    "DeliveryPolicy",
    "NotifiersConfig",
    "ReceiverConfig",
    "ReceiverKind",
    "SlackReceiverConfig",
    "WebSocketReceiverConfig",
    "WebhookReceiverConfig",
]

ReceiverKind = Literal["email", "slack", "webhook", "websocket"]

_Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
_Name = Annotated[str, Field(min_length=1, pattern=r"^[^/]+$")]
"""A receiver name: it becomes part of an actor path, so no ``/``."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeliveryPolicy(_Frozen):
    """How one receiver's notifier paces, batches and retries its sends.

    ``rate`` sends per second on average with bursts of ``burst`` (None: no limit);
    when the limit holds notifications back, up to ``batch_max`` of them go in one send.
    ``max_in_flight`` sends run at once (notifications of one alert always go one at a
    time, in order). The circuit opens after ``failure_threshold`` consecutive failed
    sends and probes again after ``cool_down`` seconds. A failed send is retried up to
    ``max_attempts`` attempts in all and while younger than ``max_age`` seconds, after
    a full-jitter backoff between 0 and ``backoff_base * 2**(n-1)`` (at most
    ``backoff_cap``) or exactly what the receiver's Retry-After says.
    """

    rate: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    burst: Annotated[int, Field(ge=1)] = 10
    batch_max: Annotated[int, Field(ge=1)] = 1
    max_in_flight: Annotated[int, Field(ge=1)] = 4
    failure_threshold: Annotated[int, Field(ge=1)] = 5
    cool_down: _Seconds = 30.0
    max_attempts: Annotated[int, Field(ge=1)] = 10
    max_age: _Seconds = 3600.0
    backoff_base: _Seconds = 1.0
    backoff_cap: _Seconds = 300.0

    @model_validator(mode="after")
    def _cap_covers_base(self) -> Self:
        if self.backoff_cap < self.backoff_base:
            raise ValueError(
                f"backoff_cap ({self.backoff_cap}) must be >= backoff_base ({self.backoff_base})"
            )
        return self

    def scheduler(self, rng: random.Random | None = None) -> DeliveryScheduler:
        """Return a fresh ``DeliveryScheduler`` with this policy (``rng``: jitter source)."""
        return DeliveryScheduler(
            policy=RetryPolicy(
                max_attempts=self.max_attempts,
                max_age=self.max_age,
                base=self.backoff_base,
                cap=self.backoff_cap,
                rng=rng,
            ),
            breaker=CircuitBreaker(self.failure_threshold, self.cool_down),
            bucket=None if self.rate is None else TokenBucket(self.rate, self.burst),
            max_in_flight=self.max_in_flight,
            batch_max=self.batch_max,
        )


DEFAULT_DELIVERY: dict[ReceiverKind, DeliveryPolicy] = {
    # Webhook receivers are usually services: several sends at once, no limit by default.
    # As many as the default connection pool holds (max_connections, 32): with fewer, a
    # busy notifier waits for round trips more than it works (4 in flight measured
    # ~1.3 event-loop wake-ups per notification on loopback, 10 about 0.5, and 32 less
    # CPU per notification again: more sends and answers share each wake-up; see
    # docs/NOTIFIERS.md). Alertmanager sends every group at once, on as many
    # connections as that takes (430 over a bench/notifiers.py --quick run).
    "webhook": DeliveryPolicy(max_in_flight=32),
    # Slack documents one message per second per incoming webhook, with short bursts:
    # stay under it, and pack what waits into one message.
    "slack": DeliveryPolicy(rate=1.0, burst=3, batch_max=10, max_in_flight=1),
    # One SMTP connection per receiver sends one message at a time anyway.
    "email": DeliveryPolicy(max_in_flight=1),
    # The registry is in-process: one at a time keeps every client's order.
    "websocket": DeliveryPolicy(max_in_flight=1, max_attempts=5, max_age=300.0),
}
"""Each kind's delivery policy; ``NotifiersConfig.delivery`` overrides it per receiver."""


def _read_environment(data: Any, fields: tuple[str, ...], headers: bool = False) -> Any:
    """Replace each ``<field>_env`` of ``data`` with ``<field>`` read from that variable.

    A configuration file keeps a secret out of itself so (``hmac_secret_env =
    "TOCSIN_HOOK_SECRET"``); with ``headers``, ``headers_env`` maps header names to
    variables. The variable is read now, at validation, so ``tocsin check-config`` names
    one that is not set; the model keeps the value, not the variable's name.
    """
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for name in fields:
        variable = data.pop(f"{name}_env", None)
        if variable is None:
            continue
        if name in data:
            raise ValueError(f"give {name} or {name}_env, not both")
        data[name] = _variable(f"{name}_env", variable)
    variables = data.pop("headers_env", None) if headers else None
    if variables is not None:
        if not isinstance(variables, dict):
            raise ValueError("headers_env maps header names to environment variables")
        given = dict(data.get("headers") or {})
        for header, variable in variables.items():
            if header in given:
                raise ValueError(f"header {header!r} is in both headers and headers_env")
            given[header] = _variable(f"headers_env.{header}", variable)
        data["headers"] = given
    return data


def _variable(field: str, variable: object) -> str:
    value = os.environ.get(str(variable))
    if not value:
        raise ValueError(f"{field}: environment variable {variable} is not set or empty")
    return value


class WebhookReceiverConfig(_Frozen):
    """POST notifications as JSON to ``url``.

    ``payload``: ``"tocsin"`` (the default, documented in docs/NOTIFIERS.md) or
    ``"alertmanager"`` (Alertmanager's webhook format, version 4, so existing receivers
    work unchanged; ``external_url`` fills its ``externalURL``). ``hmac_secret`` adds
    ``<signature_header>: sha256=<hex HMAC-SHA256 of the body>``. ``headers`` are added
    to every request (e.g. an Authorization token). ``timeout`` bounds each request's
    write, read and wait for a pooled connection, and its connect unless
    ``connect_timeout`` is set; ``max_connections`` bounds the client's pool.
    ``trust_env`` lets httpx read proxy settings from the environment. ``url_env``,
    ``hmac_secret_env`` and ``headers_env`` (header name -> variable) read those from
    environment variables at validation instead.
    """

    name: _Name
    url: HttpUrl
    payload: Literal["tocsin", "alertmanager"] = "tocsin"
    external_url: str = ""
    hmac_secret: SecretStr | None = None
    signature_header: Annotated[str, Field(min_length=1)] = "X-Tocsin-Signature"
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: _Seconds = 10.0
    connect_timeout: _Seconds | None = None
    max_connections: Annotated[int, Field(ge=1)] = 32
    trust_env: bool = True

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_environment(cls, data: Any) -> Any:
        return _read_environment(data, ("url", "hmac_secret"), headers=True)


class SlackReceiverConfig(_Frozen):
    """Post to a Slack incoming webhook at ``url`` (blocks coloured by severity).

    ``timeout``, ``connect_timeout``, ``max_connections``, ``trust_env``: as for webhooks.
    The URL holds the webhook's secret: ``url_env`` reads it from an environment variable.
    """

    name: _Name
    url: HttpUrl
    timeout: _Seconds = 10.0
    connect_timeout: _Seconds | None = None
    max_connections: Annotated[int, Field(ge=1)] = 2
    trust_env: bool = True

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_environment(cls, data: Any) -> Any:
        return _read_environment(data, ("url",))


class WebSocketReceiverConfig(_Frozen):
    """Hand notifications to live WebSocket clients through the connection registry.

    ``registry`` is the registry actor's path or unique name, looked up at each send
    (it may start after the notifiers); ``timeout`` bounds the wait for room in its
    mailbox.
    """

    name: _Name = "websocket"
    registry: Annotated[str, Field(min_length=1)] = "connection-registry"
    timeout: _Seconds = 5.0


ReceiverConfig = (
    WebhookReceiverConfig | SlackReceiverConfig | EmailReceiverConfig | WebSocketReceiverConfig
)


def receiver_kind(receiver: ReceiverConfig) -> ReceiverKind:
    """Return the channel kind of ``receiver``'s config."""
    if isinstance(receiver, WebhookReceiverConfig):
        return "webhook"
    if isinstance(receiver, SlackReceiverConfig):
        return "slack"
    if isinstance(receiver, EmailReceiverConfig):
        return "email"
    return "websocket"


class NotifiersConfig(_Frozen):
    """Every receiver, by kind, and per-receiver delivery policy overrides.

    Receiver names are unique across kinds: a ``Notification``'s ``receiver`` names
    exactly one. ``delivery`` maps a receiver's name to the fields of its
    ``DeliveryPolicy`` that differ from its kind's default (``DEFAULT_DELIVERY``).
    ``templates`` must compile: a ValueError (so a ``ValidationError`` at
    ``templates``) names each that does not, as ``<channel>.<scope>.<part>`` with
    jinja's message.
    """

    webhook: tuple[WebhookReceiverConfig, ...] = ()
    slack: tuple[SlackReceiverConfig, ...] = ()
    email: tuple[EmailReceiverConfig, ...] = ()
    websocket: WebSocketReceiverConfig | None = None
    delivery: dict[str, dict[str, Any]] = Field(default_factory=dict)
    templates: TemplatesConfig = Field(default_factory=TemplatesConfig)

    @field_validator("templates")
    @classmethod
    def _templates_compile(cls, templates: TemplatesConfig) -> TemplatesConfig:
        # As a rule's annotation templates: a typo is refused when the configuration is
        # loaded (tocsin check-config, serve, AlertSystem), naming the template, rather
        # than replaced by the default at every notification for as long as it runs.
        try:
            check_templates(templates)
        except TemplateInvalid as error:
            raise ValueError(str(error)) from None
        return templates

    @model_validator(mode="after")
    def _names_are_unique_and_known(self) -> Self:
        seen: set[str] = set()
        for receiver in self.receivers():
            if "/" in receiver.name:
                raise ValueError(f"receiver name {receiver.name!r} must not contain '/'")
            if receiver.name in seen:
                raise ValueError(f"receiver name {receiver.name!r} is used more than once")
            seen.add(receiver.name)
        for name in self.delivery:
            if name not in seen:
                raise ValueError(f"delivery.{name}: no receiver is named {name!r}")
        for receiver in self.receivers():
            self.delivery_for(receiver)  # a bad override names its receiver here
        return self

    def receivers(self) -> list[ReceiverConfig]:
        """Return every receiver: webhooks, Slack, email, then the WebSocket one."""
        found: list[ReceiverConfig] = [*self.webhook, *self.slack, *self.email]
        if self.websocket is not None:
            found.append(self.websocket)
        return found

    def delivery_for(self, receiver: ReceiverConfig) -> DeliveryPolicy:
        """Return ``receiver``'s delivery policy: its kind's default plus its overrides.

        Raises ValueError naming the receiver and the field for a bad override.
        """
        base = DEFAULT_DELIVERY[receiver_kind(receiver)]
        override = self.delivery.get(receiver.name)
        if not override:
            return base
        try:
            return DeliveryPolicy.model_validate({**base.model_dump(), **override})
        except ValidationError as error:
            problems = "; ".join(
                ".".join(["delivery", receiver.name, *map(str, problem["loc"])])
                + f": {problem['msg']}"
                for problem in error.errors()
            )
            raise ValueError(problems) from None
