"""Notifier actors and their channels (email, webhook, Slack, WebSocket)."""

from actors.notify._channel import Channel, DeliveryError
from actors.notify._circuit import CircuitBreaker, CircuitState
from actors.notify._config import (
    DEFAULT_DELIVERY,
    DeliveryPolicy,
    NotifiersConfig,
    ReceiverConfig,
    ReceiverKind,
    SlackReceiverConfig,
    WebhookReceiverConfig,
    WebSocketReceiverConfig,
)
from actors.notify._email import EmailChannel, EmailCredentialsMissing, EmailReceiverConfig
from actors.notify._http import parse_retry_after
from actors.notify._notifier import Notifier
from actors.notify._outbox import OUTBOX, OutboxRecord, outbox_key
from actors.notify._payloads import alertmanager_payload, tocsin_payload
from actors.notify._receipts import ReceiptsTarget
from actors.notify._requests import (
    DeadLetterInfo,
    DeadLetterNotFound,
    GetNotifierStatus,
    ListDeadLetters,
    NotifierStatus,
    NotifyError,
    ReplayDeadLetter,
    Replayed,
    UnknownReceiver,
)
from actors.notify._retry import GiveUp, Retry, RetryDecision, RetryPolicy
from actors.notify._scheduler import DeadLettered, Delivery, DeliveryScheduler, Retrying, Send
from actors.notify._slack import RESOLVED_COLOUR, SEVERITY_COLOURS, SlackChannel, slack_message
from actors.notify._supervisor import (
    ChannelContext,
    ChannelFactory,
    NotifierSupervisor,
    default_channel,
    notifier_name,
    notifier_supervisor_spec,
)
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
from actors.notify._webhook import IDEMPOTENCY_HEADER, WebhookChannel, sign
from actors.notify._websocket import WebSocketChannel

__all__ = [
    "DEFAULT_DELIVERY",
    "IDEMPOTENCY_HEADER",
    "OUTBOX",
    "RESOLVED_COLOUR",
    "SEVERITY_COLOURS",
    "Channel",
    "ChannelContext",
    "ChannelFactory",
    "CircuitBreaker",
    "CircuitState",
    "DeadLetterInfo",
    "DeadLetterNotFound",
    "DeadLettered",
    "Delivery",
    "DeliveryError",
    "DeliveryPolicy",
    "DeliveryScheduler",
    "EmailChannel",
    "EmailCredentialsMissing",
    "EmailReceiverConfig",
    "EmailTemplates",
    "GetNotifierStatus",
    "GiveUp",
    "ListDeadLetters",
    "Notifier",
    "NotifierStatus",
    "NotifierSupervisor",
    "NotifiersConfig",
    "NotifyError",
    "OutboxRecord",
    "ReceiptsTarget",
    "ReceiverConfig",
    "ReceiverKind",
    "RenderedNotification",
    "ReplayDeadLetter",
    "Replayed",
    "Retry",
    "RetryDecision",
    "RetryPolicy",
    "Retrying",
    "Send",
    "SlackChannel",
    "SlackReceiverConfig",
    "SlackTemplates",
    "TemplateChannel",
    "TemplateFailure",
    "TemplateInvalid",
    "TemplateScope",
    "TemplateSet",
    "TemplatesConfig",
    "TokenBucket",
    "UnknownReceiver",
    "WebSocketChannel",
    "WebSocketReceiverConfig",
    "WebhookChannel",
    "WebhookReceiverConfig",
    "WebhookTemplates",
    "alertmanager_payload",
    "check_templates",
    "default_channel",
    "notifier_name",
    "notifier_supervisor_spec",
    "outbox_key",
    "parse_retry_after",
    "sign",
    "slack_message",
    "tocsin_payload",
]
