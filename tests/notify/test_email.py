"""EmailChannel against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from typing import Any

import aiosmtpd.smtp
import pytest
from pydantic import ValidationError

from actors.notify import (
    DeliveryError,
    EmailChannel,
    EmailCredentialsMissing,
    EmailReceiverConfig,
    TemplatesConfig,
    TemplateSet,
)
from messages import NotificationKind
from tests.notify.builders import notification
from tests.notify.conftest import LoopbackCertificate
from tests.notify.smtp_server import DROP, HANG, SmtpServer

ChannelFactory = Callable[..., EmailChannel]


@pytest.fixture
async def make_channel() -> AsyncIterator[ChannelFactory]:
    """Return a factory of open-able channels; every one made is closed at the end."""
    channels: list[EmailChannel] = []

    def make(
        port: int,
        *,
        templates: TemplateSet | None = None,
        environ: dict[str, str] | None = None,
        **fields: Any,
    ) -> EmailChannel:
        config = EmailReceiverConfig.model_validate(
            {
                "name": "ops-mail",
                "host": "127.0.0.1",
                "port": port,
                "starttls": False,
                "from": "Tocsin <tocsin@alerts.example.org>",
                "to": ["oncall@example.org", "Team <team@example.org>"],
                "timeout": 5.0,
                "local_hostname": "tocsin.test",
                **fields,
            }
        )
        channel = EmailChannel(config, templates, environ=environ or {})
        channels.append(channel)
        return channel

    yield make
    for channel in channels:
        await channel.close()


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert isinstance(part, EmailMessage)
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")  # lines end in CRLF on the wire


# ---- content and threading ----------------------------------------------------------------


async def test_a_notification_arrives_as_plain_text_and_html_with_its_headers(
    smtp_server: SmtpServer, make_channel: ChannelFactory
) -> None:
    channel = make_channel(smtp_server.port)
    await channel.open()
    note = notification(annotations={"summary": "CPU <97%> & rising"}, service="api-1")

    await channel.send([note])

    [received] = await smtp_server.handler.wait_for_messages(1)
    message = received.message
    assert received.sender == "tocsin@alerts.example.org"
    assert received.recipients == ["oncall@example.org", "team@example.org"]
    assert message["From"] == "Tocsin <tocsin@alerts.example.org>"
    assert message["To"] == "oncall@example.org, Team <team@example.org>"
    assert message["Subject"] == "[Tocsin] HighCpu (service=api-1): firing"
    assert message["Date"] == "Tue, 14 Nov 2023 22:13:20 +0000"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Tocsin-Kind"] == "firing"
    assert message["X-Tocsin-Fingerprint"] == note.fingerprint
    assert message["X-Tocsin-Idempotency-Key"] == note.idempotency_key
    assert message.get_content_type() == "multipart/alternative"
    assert [part.defects for part in message.walk()] == [[], [], []]
    assert "HighCpu is firing (critical)." in body(message, "plain")
    assert "CPU <97%> & rising" in body(message, "plain")
    assert "CPU &lt;97%&gt; &amp; rising" in body(message, "html")


async def test_text_that_is_not_ascii_survives_headers_and_bodies(
    smtp_server: SmtpServer, make_channel: ChannelFactory
) -> None:
    channel = make_channel(smtp_server.port, **{"from": "Tocsin Überwachung <t@example.org>"})
    note = notification(annotations={"summary": "Température élevée 🔥"}, site="Zürich")

    await channel.send([note])

    [received] = await smtp_server.handler.wait_for_messages(1)
    message = received.message
    assert received.raw.isascii()
    assert message["Subject"] == "[Tocsin] HighCpu (site=Zürich): firing"
    assert message["From"] == "Tocsin Überwachung <t@example.org>"
    assert "Température élevée 🔥" in body(message, "plain")
    assert "<td>Zürich</td>" in body(message, "html")


async def test_a_long_body_keeps_its_lines_and_its_trailing_spaces(
    smtp_server: SmtpServer, make_channel: ChannelFactory
) -> None:
    summary = "x" * 300 + " \n.dot line\nend = equals  "
    channel = make_channel(smtp_server.port)

    await channel.send([notification(annotations={"summary": summary})])

    [received] = await smtp_server.handler.wait_for_messages(1)
    assert max(len(line) for line in received.raw.split(b"\r\n")) <= 998
    assert summary in body(received.message, "plain")


async def test_notifications_about_one_alert_thread_under_one_root_with_distinct_ids(
    smtp_server: SmtpServer, make_channel: ChannelFactory
) -> None:
    channel = make_channel(smtp_server.port)
    kinds = list(NotificationKind)
    for kind in kinds:
        await channel.send([notification(kind)])
    await channel.send([notification(alertname="DiskFull")])

    received = await smtp_server.handler.wait_for_messages(len(kinds) + 1)
    same_alert = [r.message for r in received[: len(kinds)]]
    other = received[-1].message
    root = channel.thread_root(notification().fingerprint)
    assert root == f"<tocsin.{notification().fingerprint}@alerts.example.org>"
    assert {m["In-Reply-To"] for m in same_alert} == {root}
    assert {m["References"] for m in same_alert} == {root}
    assert len({m["Message-ID"] for m in same_alert}) == len(kinds)
    assert root not in {m["Message-ID"] for m in same_alert}
    assert all(m["Subject"].startswith("[Tocsin] HighCpu (host=a): ") for m in same_alert)
    assert [m["X-Tocsin-Kind"] for m in same_alert] == [kind.value for kind in kinds]
    assert other["References"] == channel.thread_root(
        notification(alertname="DiskFull").fingerprint
    )
    assert other["References"] != root


async def test_a_retried_notification_repeats_its_message_id(
    smtp_server: SmtpServer, make_channel: ChannelFactory
) -> None:
    channel = make_channel(smtp_server.port)
    note = notification()

    await channel.send([note])
    await channel.send([note])

    first, second = await smtp_server.handler.wait_for_messages(2)
    assert first.message["Message-ID"] == second.message["Message-ID"]
    assert first.raw == second.raw


async def test_a_batch_goes_out_as_one_digest_message(
    smtp_server: SmtpServer, make_channel: ChannelFactory
) -> None:
    channel = make_channel(smtp_server.port)
    batch = [notification(host="a"), notification(host="b"), notification(alertname="DiskFull")]

    await channel.send(batch)

    [received] = await smtp_server.handler.wait_for_messages(1)
    message = received.message
    assert message["Subject"].startswith("[Tocsin] 3 notifications: HighCpu (host=a): firing;")
    assert message["References"] is None  # three alerts: no single thread to join
    text = body(message, "plain")
    assert text.count("HighCpu is firing") == 2
    assert "DiskFull is firing" in text
    assert body(message, "html").count("<hr>") == 2


async def test_a_batch_about_one_alert_joins_its_thread(
    smtp_server: SmtpServer, make_channel: ChannelFactory
) -> None:
    channel = make_channel(smtp_server.port)

    await channel.send([notification(), notification(NotificationKind.ESCALATED)])

    [received] = await smtp_server.handler.wait_for_messages(1)
    assert received.message["References"] == channel.thread_root(notification().fingerprint)


async def test_an_empty_batch_sends_nothing_and_connects_nowhere(
    smtp_server: SmtpServer, make_channel: ChannelFactory
) -> None:
    channel = make_channel(smtp_server.port)

    await channel.send([])

    assert channel.connections_opened == 0
    assert smtp_server.connections == []


async def test_a_broken_template_falls_back_to_the_default_and_the_mail_still_goes(
    smtp_server: SmtpServer, make_channel: ChannelFactory
) -> None:
    failures: list[str] = []
    templates = TemplateSet(
        TemplatesConfig.model_validate({"email": {"all": {"subject": "{{ labels.x.y }}"}}}),
        on_failure=lambda failure: failures.append(failure.describe()),
    )
    channel = make_channel(smtp_server.port, templates=templates)

    await channel.send([notification()])

    [received] = await smtp_server.handler.wait_for_messages(1)
    assert received.message["Subject"] == "[Tocsin] HighCpu (host=a): firing"
    assert len(failures) == 1
    assert "email.all.subject failed to render" in failures[0]


# ---- the connection -----------------------------------------------------------------------


async def test_one_connection_carries_every_send(
    smtp_server: SmtpServer, make_channel: ChannelFactory
) -> None:
    channel = make_channel(smtp_server.port)

    for host in "abcde":
        await channel.send([notification(host=host)])

    await smtp_server.handler.wait_for_messages(5)
    assert len(smtp_server.connections) == 1
    assert channel.connections_opened == 1


async def test_a_connection_the_server_closed_is_replaced_on_the_next_send(
    smtp_server: SmtpServer, make_channel: ChannelFactory
) -> None:
    channel = make_channel(smtp_server.port)
    await channel.send([notification(host="a")])
    await smtp_server.drop_connections()

    await channel.send([notification(host="b")])

    received = await smtp_server.handler.wait_for_messages(2)
    assert [r.message["Subject"] for r in received] == [
        "[Tocsin] HighCpu (host=a): firing",
        "[Tocsin] HighCpu (host=b): firing",
    ]
    assert len(smtp_server.connections) == 2
    assert channel.connections_opened == 2


async def test_a_reused_connection_found_dead_is_replaced_and_the_send_goes_through(
    smtp_server: SmtpServer, make_channel: ChannelFactory
) -> None:
    channel = make_channel(smtp_server.port)
    await channel.send([notification(host="a")])
    smtp_server.handler.mail_replies.append(DROP)  # as if it had closed while idle

    await channel.send([notification(host="b")])

    received = await smtp_server.handler.wait_for_messages(2)
    assert received[1].message["Subject"] == "[Tocsin] HighCpu (host=b): firing"
    assert channel.connections_opened == 2


async def test_a_reused_connection_is_replaced_only_once_per_send(
    smtp_server: SmtpServer, make_channel: ChannelFactory
) -> None:
    channel = make_channel(smtp_server.port)
    await channel.send([notification(host="a")])
    smtp_server.handler.mail_replies.extend([DROP, DROP])

    with pytest.raises(DeliveryError) as caught:
        await channel.send([notification(host="b")])

    assert caught.value.retryable
    assert channel.connections_opened == 2
    await channel.send([notification(host="c")])
    assert len(await smtp_server.handler.wait_for_messages(2)) == 2


async def test_a_connection_dropped_during_the_message_is_a_retryable_error(
    smtp_server: SmtpServer, make_channel: ChannelFactory
) -> None:
    channel = make_channel(smtp_server.port)
    smtp_server.handler.data_replies.append(DROP)

    with pytest.raises(DeliveryError) as caught:
        await channel.send([notification()])

    assert caught.value.retryable
    await channel.send([notification()])
    assert len(await smtp_server.handler.wait_for_messages(1)) == 1
    assert channel.connections_opened == 2


async def test_a_server_that_stops_answering_times_out_retryably_and_is_reconnected(
    smtp_server: SmtpServer, make_channel: ChannelFactory
) -> None:
    channel = make_channel(smtp_server.port, timeout=1.0)
    smtp_server.handler.data_replies.append(HANG)

    with pytest.raises(DeliveryError, match="timeout") as caught:
        await channel.send([notification(host="a")])

    assert caught.value.retryable
    assert smtp_server.handler.hanging.is_set()
    await channel.send([notification(host="b")])
    [received] = await smtp_server.handler.wait_for_messages(1)
    assert received.message["Subject"] == "[Tocsin] HighCpu (host=b): firing"
    assert channel.connections_opened == 2


async def test_a_closed_port_is_a_retryable_error(make_channel: ChannelFactory) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    channel = make_channel(port)

    with pytest.raises(DeliveryError) as caught:
        await channel.send([notification()])

    assert caught.value.retryable
    assert channel.connections_opened == 0


async def test_close_says_quit_and_can_be_called_twice(
    smtp_server: SmtpServer, make_channel: ChannelFactory
) -> None:
    channel = make_channel(smtp_server.port)
    await channel.send([notification()])

    await channel.close()
    await channel.close()

    [connection] = smtp_server.connections
    await connection.finished()


# ---- SMTP replies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply", ["421 4.3.2 Service shutting down", "450 4.2.1 Mailbox busy", "451 4.3.0 Try later"]
)
async def test_a_4xx_reply_is_a_retryable_error(
    smtp_server: SmtpServer, make_channel: ChannelFactory, reply: str
) -> None:
    channel = make_channel(smtp_server.port)
    smtp_server.handler.data_replies.append(reply)

    with pytest.raises(DeliveryError, match=reply[:3]) as caught:
        await channel.send([notification()])

    assert caught.value.retryable
    assert caught.value.retry_after is None
    await channel.send([notification()])
    assert len(await smtp_server.handler.wait_for_messages(1)) == 1


@pytest.mark.parametrize(
    "reply", ["550 5.1.1 Mailbox unavailable", "554 5.7.1 Message rejected as spam"]
)
async def test_a_5xx_reply_is_a_permanent_error_and_the_connection_stays_usable(
    smtp_server: SmtpServer, make_channel: ChannelFactory, reply: str
) -> None:
    channel = make_channel(smtp_server.port)
    smtp_server.handler.data_replies.append(reply)

    with pytest.raises(DeliveryError, match=reply[:3]) as caught:
        await channel.send([notification()])

    assert not caught.value.retryable
    await channel.send([notification()])
    assert len(await smtp_server.handler.wait_for_messages(1)) == 1
    assert channel.connections_opened == 1


@pytest.mark.parametrize(
    ("reply", "retryable"), [("450 4.2.1 Mailbox busy", True), ("550 5.1.1 No such user", False)]
)
async def test_every_recipient_refused_is_classified_by_the_reply_code(
    smtp_server: SmtpServer, make_channel: ChannelFactory, reply: str, retryable: bool
) -> None:
    channel = make_channel(smtp_server.port)
    smtp_server.handler.rcpt_replies.extend([reply, reply])

    with pytest.raises(DeliveryError, match="recipients refused") as caught:
        await channel.send([notification()])

    assert caught.value.retryable is retryable


async def test_a_message_accepted_for_some_recipients_is_delivered(
    smtp_server: SmtpServer, make_channel: ChannelFactory
) -> None:
    channel = make_channel(smtp_server.port)
    smtp_server.handler.rcpt_replies.append("550 5.1.1 No such user")

    await channel.send([notification()])

    [received] = await smtp_server.handler.wait_for_messages(1)
    assert received.recipients == ["team@example.org"]


# ---- TLS and authentication ---------------------------------------------------------------


@pytest.fixture
async def starttls_server(certificate: LoopbackCertificate) -> AsyncIterator[SmtpServer]:
    """Serve SMTP that requires STARTTLS, with AUTH (over TLS only) for user/secret."""

    def authenticate(
        server: aiosmtpd.smtp.SMTP,
        session: aiosmtpd.smtp.Session,
        envelope: aiosmtpd.smtp.Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> aiosmtpd.smtp.AuthResult:
        ok = (auth_data.login, auth_data.password) == (b"tocsin", b"s3cret")
        return aiosmtpd.smtp.AuthResult(success=ok, handled=False, auth_data=auth_data)

    server = await SmtpServer(
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=authenticate,
    ).start()
    yield server
    await server.close()


async def test_starttls_encrypts_the_session_with_a_trusted_certificate(
    starttls_server: SmtpServer, make_channel: ChannelFactory, certificate: LoopbackCertificate
) -> None:
    channel = make_channel(starttls_server.port, starttls=True, ca_file=str(certificate.cert))
    await channel.open()

    await channel.send([notification()])

    [received] = await starttls_server.handler.wait_for_messages(1)
    assert received.over_tls
    assert received.login is None


async def test_starttls_is_the_default_and_required(
    smtp_server: SmtpServer, make_channel: ChannelFactory
) -> None:
    channel = make_channel(smtp_server.port, starttls=None)

    with pytest.raises(DeliveryError, match="STARTTLS") as caught:
        await channel.send([notification()])

    assert not caught.value.retryable
    assert smtp_server.handler.received == []


async def test_a_certificate_the_client_does_not_trust_is_a_permanent_error(
    starttls_server: SmtpServer, make_channel: ChannelFactory
) -> None:
    channel = make_channel(starttls_server.port, starttls=True)

    with pytest.raises(DeliveryError, match="certificate") as caught:
        await channel.send([notification()])

    assert not caught.value.retryable
    assert starttls_server.handler.received == []


async def test_auth_logs_in_with_a_password_from_the_environment(
    starttls_server: SmtpServer, make_channel: ChannelFactory, certificate: LoopbackCertificate
) -> None:
    channel = make_channel(
        starttls_server.port,
        starttls=True,
        ca_file=str(certificate.cert),
        username="tocsin",
        password_env="TOCSIN_SMTP_PASSWORD",
        environ={"TOCSIN_SMTP_PASSWORD": "s3cret"},
    )

    await channel.send([notification()])
    await channel.send([notification(NotificationKind.RESOLVED)])

    received = await starttls_server.handler.wait_for_messages(2)
    assert [r.login for r in received] == [b"tocsin", b"tocsin"]
    assert all(r.over_tls for r in received)
    assert channel.connections_opened == 1


async def test_a_wrong_password_is_a_permanent_error(
    starttls_server: SmtpServer, make_channel: ChannelFactory, certificate: LoopbackCertificate
) -> None:
    channel = make_channel(
        starttls_server.port,
        starttls=True,
        ca_file=str(certificate.cert),
        username="tocsin",
        password="wrong",
    )

    with pytest.raises(DeliveryError, match="535") as caught:
        await channel.send([notification()])

    assert not caught.value.retryable


async def test_implicit_tls_delivers_over_an_encrypted_connection(
    certificate: LoopbackCertificate, make_channel: ChannelFactory
) -> None:
    server = SmtpServer()
    try:
        await server.start(implicit_tls=certificate.server_context())
        channel = make_channel(
            server.port, use_tls=True, starttls=None, ca_file=str(certificate.cert)
        )

        await channel.send([notification()])

        [received] = await server.handler.wait_for_messages(1)
        assert received.message["X-Tocsin-Kind"] == "firing"
        assert server.connections[0].transport is not None
        assert isinstance(
            server.connections[0].transport.get_extra_info("ssl_object"), ssl.SSLObject
        )
    finally:
        await server.close()


def test_a_missing_password_variable_is_named_when_the_channel_is_built() -> None:
    config = EmailReceiverConfig.model_validate(
        {
            "name": "ops-mail",
            "username": "tocsin",
            "password_env": "NOT_SET_ANYWHERE",
            "from": "tocsin@example.org",
            "to": ["oncall@example.org"],
        }
    )

    with pytest.raises(EmailCredentialsMissing, match="NOT_SET_ANYWHERE"):
        EmailChannel(config, environ={})


# ---- configuration ------------------------------------------------------------------------


def receiver(**fields: Any) -> EmailReceiverConfig:
    return EmailReceiverConfig.model_validate(
        {"name": "ops-mail", "from": "tocsin@example.org", "to": ["oncall@example.org"], **fields}
    )


@pytest.mark.parametrize(
    ("fields", "port", "starttls"),
    [
        ({}, 587, True),
        ({"starttls": False}, 25, False),
        ({"use_tls": True}, 465, False),
        ({"port": 2525}, 2525, True),
    ],
)
def test_the_port_and_starttls_default_from_the_tls_mode(
    fields: dict[str, Any], port: int, starttls: bool
) -> None:
    config = receiver(**fields)

    assert config.effective_port == port
    assert config.uses_starttls is starttls


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"use_tls": True, "starttls": True}, "exclude each other"),
        ({"to": []}, "to"),
        ({"to": ["not an address"]}, "not an email address"),
        ({"from": "nobody"}, "not an email address"),
        ({"password": "x"}, "needs a username"),
        ({"username": "u", "password": "x", "password_env": "P"}, "not both"),
        ({"port": 0}, "port"),
        ({"timeout": 0}, "timeout"),
        ({"hostname": "x"}, "hostname"),
    ],
)
def test_a_bad_receiver_config_names_the_reason(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        receiver(**fields)


def test_the_password_is_never_shown_in_the_config() -> None:
    config = receiver(username="tocsin", password="s3cret")

    assert "s3cret" not in repr(config)
    assert config.resolve_password({}) == "s3cret"
