"""The built-in templates: what each channel's parts say when nothing overrides them.

``default_source`` gives the Jinja2 source of a channel's part for a notification kind;
``TemplateSet`` (actors/notify/_templates.py) compiles each once and renders it in its
sandbox, with the context described there. ``NATIVE_DEFAULTS`` holds the defaults also
written in plain Python, which give exactly the template's text for less (the webhook's
``summary``, rendered for every webhook notification); ``TemplateSet`` uses them when no
user template overrides the part.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from actors.notify._template_config import TemplateChannel
from messages import Notification, NotificationKind

__all__ = ["NATIVE_DEFAULTS", "default_source", "default_summary"]

_HEADLINES: Mapping[NotificationKind, str] = {
    NotificationKind.FIRING: "{{ alertname }} is firing ({{ severity }}).",
    NotificationKind.ACKNOWLEDGED: "{{ alertname }} was acknowledged; it is still firing.",
    NotificationKind.ESCALATED: (
        "{{ alertname }} is still firing and unacknowledged: escalated to {{ receiver }}."
    ),
    NotificationKind.RESOLVED: "{{ alertname }} is resolved.",
}

_SLACK_MARKS: Mapping[NotificationKind, str] = {
    NotificationKind.FIRING: ":rotating_light:",
    NotificationKind.ACKNOWLEDGED: ":eyes:",
    NotificationKind.ESCALATED: ":sos:",
    NotificationKind.RESOLVED: ":white_check_mark:",
}

_SUBJECT = "{{ alertname }}{% if label_text %} ({{ label_text }}){% endif %}: {{ kind }}"

_TEXT = """{headline}
{{% if summary %}}
{{{{ summary }}}}
{{% endif %}}{{% if description %}}
{{{{ description }}}}
{{% endif %}}
Severity: {{{{ severity }}}}
Since: {{{{ started }}}}
Labels:
{{% for name, value in labels|dictsort %}}  {{{{ name }}}} = {{{{ value }}}}
{{% endfor %}}{{% for name, value in annotations|dictsort
   if name not in ("summary", "description") %}}{{% if loop.first %}}Annotations:
{{% endif %}}  {{{{ name }}}} = {{{{ value }}}}
{{% endfor %}}Fingerprint: {{{{ fingerprint }}}}
"""

_HTML = """<html><body>
<p><strong>{headline}</strong></p>
{{% if summary %}}<p>{{{{ summary }}}}</p>
{{% endif %}}{{% if description %}}<p>{{{{ description }}}}</p>
{{% endif %}}<table>
<tr><th align="left">severity</th><td>{{{{ severity }}}}</td></tr>
<tr><th align="left">since</th><td>{{{{ started }}}}</td></tr>
{{% for name, value in labels|dictsort %}}<tr><th align="left">{{{{ name }}}}</th>\
<td>{{{{ value }}}}</td></tr>
{{% endfor %}}{{% for name, value in annotations|dictsort
   if name not in ("summary", "description") %}}<tr><th align="left">{{{{ name }}}}</th>\
<td>{{{{ value }}}}</td></tr>
{{% endfor %}}</table>
<p><small>fingerprint {{{{ fingerprint }}}}</small></p>
</body></html>
"""

_SLACK = (
    "{mark} *[{{{{ kind|upper }}}}] {{{{ alertname }}}}* ({{{{ severity }}}})"
    "{{% if label_text %}} {{{{ label_text }}}}{{% endif %}}"
    "{{% if summary %}}\n{{{{ summary }}}}{{% endif %}}"
)

_SUMMARY = (
    "[{{ kind|upper }}] {{ alertname }}{% if label_text %} ({{ label_text }}){% endif %}"
    "{% if summary %}: {{ summary }}{% endif %}"
)


_KIND_UPPER: dict[NotificationKind, str] = {kind: kind.value.upper() for kind in NotificationKind}


def default_summary(notification: Notification) -> str:
    """Return the webhook's default ``summary`` of ``notification``, uncapped."""
    # _SUMMARY in plain Python: the webhook summary is rendered for every webhook
    # notification, and jinja's context and generator cost ~10x this. Tested to give
    # exactly what the template gives (tests/notify/test_templates.py).
    labels = notification.labels
    text = f"[{_KIND_UPPER[notification.kind]}] {labels.get('alertname', 'alert')}"
    label_text = ", ".join(
        [f"{name}={value}" for name, value in sorted(labels.items()) if name != "alertname"]
    )
    if label_text:
        text += f" ({label_text})"
    summary = notification.annotations.get("summary", "")
    if summary:
        text += f": {summary}"
    return text


NATIVE_DEFAULTS: Mapping[tuple[TemplateChannel, str], Callable[[Notification], str]] = {
    (TemplateChannel.WEBHOOK, "summary"): default_summary,
}
"""Defaults also written in Python, used when no user template overrides the part."""


def default_source(channel: TemplateChannel, kind: NotificationKind, part: str) -> str:
    """Return the Jinja2 source of ``channel``'s built-in ``part`` for ``kind``."""
    if channel is TemplateChannel.SLACK:
        return _SLACK.format(mark=_SLACK_MARKS[kind])
    if channel is TemplateChannel.WEBHOOK:
        return _SUMMARY
    if part == "subject":
        return _SUBJECT
    return (_HTML if part == "html" else _TEXT).format(headline=_HEADLINES[kind])
