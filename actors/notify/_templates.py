"""Notification templates: Jinja2 in a sandbox, compiled once, never dropping a notification.

Every channel renders a notification into a few named *parts*:

=========  ===============================  ==========================================
channel    parts                            escaping
=========  ===============================  ==========================================
email      ``subject``, ``text``, ``html``  ``html`` is autoescaped; the others are not
slack      ``text``                         ``&``, ``<``, ``>`` in values (Slack mrkdwn)
webhook    ``summary``                      none
=========  ===============================  ==========================================

Each part has a built-in default per notification kind (firing, acknowledged,
escalated, resolved; actors/notify/_template_defaults.py). ``TemplatesConfig``
overrides any of them, for one kind or for ``all`` kinds. The context a template sees:

- ``kind`` (``"firing"``...), ``alertname`` (the label, or ``"alert"``), ``severity``;
- ``labels``, ``annotations`` (the alert's; annotations already rendered),
  ``summary`` and ``description`` (those annotations, or ``""``);
- ``label_text``: ``"name=value, ..."`` for the labels other than ``alertname``;
- ``fingerprint``, ``receiver``, ``notification_id``, ``idempotency_key``;
- ``created_at`` (epoch seconds) and ``created`` (ISO 8601, UTC): when the notification
  was made;
- ``starts_at`` and ``started``: the same for when the alert started
  (``Notification.alert_started_at``), which the email defaults show as "Since".

Templates run in Jinja2's ``SandboxedEnvironment`` with repetition and power operators
bounded and every part's output capped (``MAX_LENGTHS``). A user template that does not
compile is reported once, when the ``TemplateSet`` is built; one that fails to render is
reported each time. Either way the part is rendered from the default instead and the
notification goes out: the failure is counted (``TemplateSet.failure_counts``), logged
(structlog, ``tocsin.notify.templates``) and returned as a ``TemplateFailure`` with the
rendered parts, for the notifier to report. ``check_templates`` rejects a configuration
whose templates do not compile; ``NotifiersConfig`` runs it when it is validated, so
through the configuration only render failures reach a ``TemplateSet``.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jinja2
import structlog

# The same bounded sandbox as annotation templates: one definition of what a template
# may compute.
from actors.evaluation._annotations import _BoundedSandbox
from actors.notify._template_config import (
    MAX_LENGTHS,
    PARTS,
    EmailTemplates,
    RenderedNotification,
    SlackTemplates,
    TemplateChannel,
    TemplateFailure,
    TemplateInvalid,
    TemplatesConfig,
    TemplateScope,
    WebhookTemplates,
)
from actors.notify._template_defaults import NATIVE_DEFAULTS, default_source
from messages import Notification, NotificationKind

__all__ = [
    "MAX_LENGTHS",
    "EmailTemplates",
    "RenderedNotification",
    "SlackTemplates",
    "TemplateChannel",
    "TemplateFailure",
    "TemplateInvalid",
    "TemplateScope",
    "TemplateSet",
    "TemplatesConfig",
    "WebhookTemplates",
    "check_templates",
]

_log = structlog.get_logger("tocsin.notify.templates")


# ---- Environments ------------------------------------------------------------------------


def _slack_escape(value: Any) -> Any:
    # Slack mrkdwn gives &, < and > a meaning; values are escaped, template text is not
    # (so a template can still write a <url|link>).
    if isinstance(value, str):
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


def _environment(channel: TemplateChannel, part: str) -> jinja2.Environment:
    return _ENVIRONMENTS[
        "html" if part == "html" else "slack" if channel is TemplateChannel.SLACK else "plain"
    ]


# Built once per process: an environment is costly and templates share nothing mutable
# through it.
_ENVIRONMENTS: Mapping[str, jinja2.Environment] = {
    "plain": _BoundedSandbox(autoescape=False),
    "html": _BoundedSandbox(autoescape=True),
    "slack": _BoundedSandbox(autoescape=False, finalize=_slack_escape),
}


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _compile(channel: TemplateChannel, part: str, source: str) -> jinja2.Template:
    return _environment(channel, part).from_string(source)


_Key = tuple[TemplateChannel, NotificationKind, str]
_OverrideKey = tuple[TemplateChannel, TemplateScope, str]


class _Entry(NamedTuple):
    default: jinja2.Template
    override: jinja2.Template | None
    scope: TemplateScope
    native: Callable[[Notification], str] | None
    """The default in Python (same output), when there is one and nothing overrides it."""


_DEFAULTS: dict[_Key, jinja2.Template] = {}


def _defaults() -> dict[_Key, jinja2.Template]:
    # Compiled on first use and shared by every TemplateSet in the process.
    if not _DEFAULTS:
        for channel, parts in PARTS.items():
            for kind in NotificationKind:
                for part in parts:
                    _DEFAULTS[channel, kind, part] = _compile(
                        channel, part, default_source(channel, kind, part)
                    )
    return _DEFAULTS


def _context(notification: Notification) -> dict[str, Any]:
    labels = notification.labels
    annotations = notification.annotations
    created = datetime.datetime.fromtimestamp(notification.created_at, datetime.UTC)
    starts_at = notification.alert_started_at
    started = datetime.datetime.fromtimestamp(starts_at, datetime.UTC)
    return {
        "kind": notification.kind.value,
        "alertname": labels.get("alertname", "alert"),
        "severity": notification.severity.value,
        "labels": labels,
        "annotations": annotations,
        "summary": annotations.get("summary", ""),
        "description": annotations.get("description", ""),
        "label_text": ", ".join(
            f"{name}={value}" for name, value in sorted(labels.items()) if name != "alertname"
        ),
        "fingerprint": notification.fingerprint,
        "receiver": notification.receiver,
        "notification_id": notification.id,
        "idempotency_key": notification.idempotency_key,
        "created_at": notification.created_at,
        "created": created.isoformat(timespec="seconds"),
        "starts_at": starts_at,
        "started": started.isoformat(timespec="seconds"),
    }


def _bounded(template: jinja2.Template, context: Mapping[str, Any], limit: int) -> str:
    # Render chunk by chunk and stop at the cap, so a template cannot build a huge text.
    parts: list[str] = []
    length = 0
    for chunk in template.generate(context):
        parts.append(chunk)
        length += len(chunk)
        if length > limit:
            return "".join(parts)[: limit - 1] + "…"
    return "".join(parts)


def _last_resort(notification: Notification) -> str:
    # Only if a built-in default itself fails to render: still say something true.
    return f"[{notification.kind.value.upper()}] {notification.labels.get('alertname', 'alert')}"


class TemplateSet:
    """Every channel's templates, compiled once; ``render`` never raises for a template.

    Build one per configuration and share it between channels. ``on_failure`` (optional)
    is called with each ``TemplateFailure`` as it happens, e.g. to turn it into an event;
    ``failure_counts`` counts them by (channel, part, stage) for metrics.
    ``load_failures`` lists the overrides that did not compile.
    """

    __slots__ = ("_entries", "failure_counts", "load_failures", "on_failure")

    def __init__(
        self,
        config: TemplatesConfig | None = None,
        *,
        on_failure: Callable[[TemplateFailure], None] | None = None,
    ) -> None:
        self.on_failure = on_failure
        self.failure_counts: Counter[tuple[str, str, str]] = Counter()
        defaults = _defaults()
        overrides = (config or TemplatesConfig()).overrides()
        compiled, failures = _compile_overrides(overrides)
        self.load_failures = failures
        self._entries: dict[_Key, _Entry] = {}
        for (channel, kind, part), default in defaults.items():
            scope: TemplateScope = kind.value
            override = compiled.get((channel, scope, part))
            if override is None and (channel, scope, part) not in overrides:
                scope = "all"
                override = compiled.get((channel, scope, part))
            native = NATIVE_DEFAULTS.get((channel, part)) if override is None else None
            self._entries[channel, kind, part] = _Entry(default, override, scope, native)
        for failure in failures:
            self._report(failure)

    def render(self, channel: TemplateChannel, notification: Notification) -> RenderedNotification:
        """Return every part of ``channel`` for ``notification``.

        A user template that fails falls back to the default for that part; the failure
        is in the result (and counted, logged and passed to ``on_failure``).
        """
        context: dict[str, Any] | None = None
        kind = notification.kind
        parts: dict[str, str] = {}
        failures: list[TemplateFailure] = []
        for part in PARTS[channel]:
            entry = self._entries[channel, kind, part]
            limit = MAX_LENGTHS[part]
            if entry.native is not None:
                text = entry.native(notification)
                parts[part] = text if len(text) <= limit else text[: limit - 1] + "…"
                continue
            if context is None:
                context = _context(notification)
            parts[part] = self._render_entry(channel, part, entry, context, notification, failures)
        return RenderedNotification(parts, tuple(failures))

    def render_part(self, channel: TemplateChannel, part: str, notification: Notification) -> str:
        """Return ``render(channel, notification).parts[part]``, rendering only that part.

        The same text, fallback and failure reporting as ``render``; for a channel that
        needs one part of every notification (the webhook's summary), without the
        other parts and the ``RenderedNotification`` around them.
        """
        entry = self._entries[channel, notification.kind, part]
        native = entry.native
        if native is not None:
            text = native(notification)
            limit = MAX_LENGTHS[part]
            return text if len(text) <= limit else text[: limit - 1] + "…"
        return self._render_entry(channel, part, entry, _context(notification), notification)

    def _render_entry(
        self,
        channel: TemplateChannel,
        part: str,
        entry: _Entry,
        context: dict[str, Any],
        notification: Notification,
        failures: list[TemplateFailure] | None = None,
    ) -> str:
        limit = MAX_LENGTHS[part]
        if entry.override is not None:
            try:
                return _bounded(entry.override, context, limit)
            except Exception as error:
                failure = TemplateFailure(
                    channel, entry.scope, part, "render", _describe(error), notification.id
                )
                if failures is not None:
                    failures.append(failure)
                self._report(failure)
        try:
            return _bounded(entry.default, context, limit)
        except Exception as error:  # pragma: no cover - the defaults are tested
            _log.error("default template failed", part=part, error=_describe(error))
            return _last_resort(notification)

    def _report(self, failure: TemplateFailure) -> None:
        self.failure_counts[failure.channel.value, failure.part, failure.stage] += 1
        _log.warning(
            "template failed, default used",
            channel=failure.channel.value,
            scope=failure.scope,
            part=failure.part,
            stage=failure.stage,
            error=failure.error,
            notification_id=failure.notification_id,
        )
        if self.on_failure is not None:
            self.on_failure(failure)


def _compile_overrides(
    overrides: Mapping[_OverrideKey, str],
) -> tuple[dict[_OverrideKey, jinja2.Template], tuple[TemplateFailure, ...]]:
    compiled: dict[_OverrideKey, jinja2.Template] = {}
    failures: list[TemplateFailure] = []
    for (channel, scope, part), source in overrides.items():
        try:
            compiled[channel, scope, part] = _compile(channel, part, source)
        except Exception as error:
            failures.append(TemplateFailure(channel, scope, part, "compile", _describe(error)))
    return compiled, tuple(failures)


def check_templates(config: TemplatesConfig) -> None:
    """Raise ``TemplateInvalid`` naming every configured template that does not compile.

    Run it when a configuration is checked or loaded, so a typo is a clear error for the
    operator; at run time a ``TemplateSet`` falls back to the defaults instead.
    """
    _compiled, failures = _compile_overrides(config.overrides())
    if failures:
        raise TemplateInvalid(failures)
