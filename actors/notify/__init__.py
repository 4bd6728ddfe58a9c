"""Notifier actors and their channels (email, webhook, Slack, WebSocket)."""

from actors.notify._channel import Channel, DeliveryError
from actors.notify._circuit import CircuitBreaker, CircuitState
from actors.notify._email import EmailChannel, EmailCredentialsMissing, EmailReceiverConfig
from actors.notify._retry import GiveUp, Retry, RetryDecision, RetryPolicy
from actors.notify._scheduler import DeadLettered, Delivery, DeliveryScheduler, Retrying, Send
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
from actors.notify._token_bucket import TokenBucket

__all__ = [
    "Channel",
    "CircuitBreaker",
    "CircuitState",
    "DeadLettered",
    "Delivery",
    "DeliveryError",
    "DeliveryScheduler",
    "EmailChannel",
    "EmailCredentialsMissing",
    "EmailReceiverConfig",
    "EmailTemplates",
    "GiveUp",
    "RenderedNotification",
    "Retry",
    "RetryDecision",
    "RetryPolicy",
    "Retrying",
    "Send",
    "SlackTemplates",
    "TemplateChannel",
    "TemplateFailure",
    "TemplateInvalid",
    "TemplateScope",
    "TemplateSet",
    "TemplatesConfig",
    "TokenBucket",
    "WebhookTemplates",
    "check_templates",
]
