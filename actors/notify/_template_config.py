"""What notification templates can be configured, and what rendering returns.

``TemplatesConfig`` (per channel, per kind or ``all``) with the parts each channel has
(``PARTS``) and their length caps (``MAX_LENGTHS``); ``TemplateFailure`` and
``TemplateInvalid`` for a user template that fell back to the default;
``RenderedNotification``, a channel's rendered parts. The rendering itself is
``_templates.TemplateSet``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "MAX_LENGTHS",
    "PARTS",
    "EmailTemplates",
    "RenderedNotification",
    "SlackTemplates",
    "TemplateChannel",
    "TemplateFailure",
    "TemplateInvalid",
    "TemplateScope",
    "TemplatesConfig",
    "WebhookTemplates",
]


class TemplateChannel(StrEnum):
    """The channels that render notifications from templates."""

    EMAIL = "email"
    SLACK = "slack"
    WEBHOOK = "webhook"


TemplateScope = Literal["all", "firing", "acknowledged", "escalated", "resolved"]
"""Which kinds an override applies to: one kind, or ``all`` (a kind's own wins)."""

PARTS: dict[TemplateChannel, tuple[str, ...]] = {
    TemplateChannel.EMAIL: ("subject", "text", "html"),
    TemplateChannel.SLACK: ("text",),
    TemplateChannel.WEBHOOK: ("summary",),
}

MAX_LENGTHS: Mapping[str, int] = {"subject": 200, "summary": 1_000, "text": 20_000, "html": 50_000}
"""Rendered parts longer than this many characters are cut (and end with ``…``)."""


class _Parts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EmailTemplates(_Parts):
    """Override the email parts; None keeps the default."""

    subject: str | None = None
    text: str | None = None
    html: str | None = None


class SlackTemplates(_Parts):
    """Override the Slack message text (mrkdwn); None keeps the default."""

    text: str | None = None


class WebhookTemplates(_Parts):
    """Override the webhook payload's one-line summary; None keeps the default."""

    summary: str | None = None


class TemplatesConfig(BaseModel):
    """User templates per channel, per kind or for ``all`` kinds.

    In TOML: ``[notify.templates.email.firing]`` with ``subject = "..."``. A part set for
    one kind wins over the same part set for ``all``, which wins over the default.
    This model only holds the text; ``NotifiersConfig`` refuses a template that does
    not compile (``check_templates``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    email: dict[TemplateScope, EmailTemplates] = {}
    slack: dict[TemplateScope, SlackTemplates] = {}
    webhook: dict[TemplateScope, WebhookTemplates] = {}

    def overrides(self) -> dict[tuple[TemplateChannel, TemplateScope, str], str]:
        """Return every template set here, keyed by (channel, scope, part)."""
        found: dict[tuple[TemplateChannel, TemplateScope, str], str] = {}
        for channel in TemplateChannel:
            scopes: Mapping[TemplateScope, _Parts] = getattr(self, channel.value)
            for scope, parts in scopes.items():
                for part in PARTS[channel]:
                    source = getattr(parts, part)
                    if source is not None:
                        found[channel, scope, part] = source
        return found


@dataclass(frozen=True, slots=True)
class TemplateFailure:
    """One user template that failed and was replaced by the default.

    ``stage`` is ``compile`` (reported once, when the set is built) or ``render``
    (reported for each notification it failed on, ``notification_id`` set). A
    ``compile`` failure only happens to a ``TemplateSet`` built directly from a
    ``TemplatesConfig``: ``NotifiersConfig`` refuses templates that do not compile.
    """

    channel: TemplateChannel
    scope: TemplateScope
    part: str
    stage: Literal["compile", "render"]
    error: str
    notification_id: str | None = None

    def where(self) -> str:
        """Return which template: ``<channel>.<scope>.<part>``, as in the TOML tables."""
        return f"{self.channel.value}.{self.scope}.{self.part}"

    def describe(self) -> str:
        """Return one line for an operator: which template, what went wrong."""
        action = "does not compile" if self.stage == "compile" else "failed to render"
        return f"template {self.where()} {action} (default used): {self.error}"


class TemplateInvalid(Exception):
    """A configured template does not compile; ``failures`` names each one.

    The message gives each as ``template <channel>.<scope>.<part> does not compile:
    <jinja's error>``, joined by ``; ``. Nothing falls back here: the configuration
    holding them is refused.
    """

    def __init__(self, failures: tuple[TemplateFailure, ...]) -> None:
        super().__init__(
            "; ".join(
                f"template {failure.where()} does not compile: {failure.error}"
                for failure in failures
            )
        )
        self.failures = failures


@dataclass(frozen=True, slots=True)
class RenderedNotification:
    """A notification's parts for one channel, and the user templates that fell back.

    ``parts`` maps each of the channel's part names to its text; ``failures`` is empty
    when every user template rendered.
    """

    parts: Mapping[str, str]
    failures: tuple[TemplateFailure, ...]
