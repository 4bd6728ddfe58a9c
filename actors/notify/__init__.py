"""Notifier actors and their channels (email, webhook, Slack, WebSocket)."""

from actors.notify._channel import Channel, DeliveryError
from actors.notify._email import EmailChannel, EmailCredentialsMissing, EmailReceiverConfig
from actors.notify._templates import (
    EmailTemplates,
    RenderedNotification,
    SlackTemplates,
    TemplateChannel,
    TemplateFailure,
    TemplateInvalid,
    TemplatesConfig,
    TemplateScope,
    TemplateSet,
    WebhookTemplates,
    check_templates,
)

__all__ = [
    "Channel",
    "DeliveryError",
    "EmailChannel",
    "EmailCredentialsMissing",
    "EmailReceiverConfig",
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
