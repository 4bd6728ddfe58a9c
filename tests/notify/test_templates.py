"""Notification templates: defaults per channel and kind, overrides, and fallbacks."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from structlog.testing import capture_logs

from actors.notify import (
    TemplateChannel,
    TemplateFailure,
    TemplateInvalid,
    TemplatesConfig,
    TemplateSet,
    check_templates,
)
from actors.notify._templates import MAX_LENGTHS, _bounded, _context, _defaults
from messages import NotificationKind
from tests.notify.builders import T0, notification

PARTS = {
    TemplateChannel.EMAIL: ("subject", "text", "html"),
    TemplateChannel.SLACK: ("text",),
    TemplateChannel.WEBHOOK: ("summary",),
}


def config(**channels: Any) -> TemplatesConfig:
    return TemplatesConfig.model_validate(channels)


# ---- defaults -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(NotificationKind))
@pytest.mark.parametrize("channel", list(TemplateChannel))
def test_every_default_renders_the_alert_for_every_channel_and_kind(
    channel: TemplateChannel, kind: NotificationKind
) -> None:
    rendered = TemplateSet().render(channel, notification(kind, service="api-1"))

    assert rendered.failures == ()
    assert set(rendered.parts) == set(PARTS[channel])
    for part, text in rendered.parts.items():
        assert "HighCpu" in text, part
        assert "service=api-1" in text or "service" in text, part


def test_the_default_bodies_say_what_happened_for_each_kind() -> None:
    templates = TemplateSet()
    headlines = {
        kind: templates.render(TemplateChannel.EMAIL, notification(kind)).parts["text"]
        .splitlines()[0]
        for kind in NotificationKind
    }  # fmt: skip

    assert headlines == {
        NotificationKind.FIRING: "HighCpu is firing (critical).",
        NotificationKind.ACKNOWLEDGED: "HighCpu was acknowledged; it is still firing.",
        NotificationKind.ESCALATED: (
            "HighCpu is still firing and unacknowledged: escalated to ops-mail."
        ),
        NotificationKind.RESOLVED: "HighCpu is resolved.",
    }


def test_the_default_subject_keeps_the_alert_first_and_the_kind_last() -> None:
    templates = TemplateSet()

    subjects = [
        templates.render(TemplateChannel.EMAIL, notification(kind, host="a")).parts["subject"]
        for kind in NotificationKind
    ]

    assert subjects == [f"HighCpu (host=a): {kind.value}" for kind in NotificationKind]


def test_the_default_text_lists_labels_and_other_annotations() -> None:
    note = notification(
        annotations={"summary": "CPU is high", "description": "above 90%", "runbook": "http://r"},
        host="a",
    )

    text = TemplateSet().render(TemplateChannel.EMAIL, note).parts["text"]

    assert text == (
        "HighCpu is firing (critical).\n"
        "\nCPU is high\n"
        "\nabove 90%\n"
        "\nSeverity: critical\n"
        "Since: 2023-11-14T22:13:20+00:00\n"
        "Labels:\n"
        "  alertname = HighCpu\n"
        "  host = a\n"
        "Annotations:\n"
        "  runbook = http://r\n"
        f"Fingerprint: {note.fingerprint}"
    )


def test_html_escapes_values_and_plain_text_keeps_them() -> None:
    note = notification(annotations={"summary": "<script>x</script> & co"}, host="<b>")

    rendered = TemplateSet().render(TemplateChannel.EMAIL, note)

    assert "&lt;script&gt;x&lt;/script&gt; &amp; co" in rendered.parts["html"]
    assert "<td>&lt;b&gt;</td>" in rendered.parts["html"]
    assert "<script>" not in rendered.parts["html"]
    assert "<script>x</script> & co" in rendered.parts["text"]
    assert rendered.parts["subject"] == "HighCpu (host=<b>): firing"


def test_slack_escapes_values_but_not_the_template_text() -> None:
    templates = TemplateSet(
        config(slack={"all": {"text": "<https://runbooks/{{ alertname }}|runbook> {{ summary }}"}})
    )

    text = templates.render(
        TemplateChannel.SLACK, notification(annotations={"summary": "a<b & c>d"})
    ).parts["text"]

    assert text == "<https://runbooks/HighCpu|runbook> a&lt;b &amp; c&gt;d"


def test_the_webhook_summary_is_one_line() -> None:
    summary = TemplateSet().render(TemplateChannel.WEBHOOK, notification(host="a")).parts["summary"]

    assert summary == "[FIRING] HighCpu (host=a): CPU is high"


# ---- overrides ----------------------------------------------------------------------------


def test_an_override_for_one_kind_wins_over_all_kinds_which_wins_over_the_default() -> None:
    templates = TemplateSet(
        config(
            email={
                "all": {"subject": "ALL {{ alertname }}"},
                "resolved": {"subject": "OK {{ alertname }}"},
            }
        )
    )

    subjects = {
        kind: templates.render(TemplateChannel.EMAIL, notification(kind)).parts["subject"]
        for kind in NotificationKind
    }

    assert subjects == {
        NotificationKind.FIRING: "ALL HighCpu",
        NotificationKind.ACKNOWLEDGED: "ALL HighCpu",
        NotificationKind.ESCALATED: "ALL HighCpu",
        NotificationKind.RESOLVED: "OK HighCpu",
    }


def test_an_override_changes_only_its_own_part_and_channel() -> None:
    templates = TemplateSet(config(email={"firing": {"text": "custom {{ severity }}"}}))
    note = notification()

    email = templates.render(TemplateChannel.EMAIL, note)

    assert email.parts["text"] == "custom critical"
    assert (
        email.parts["subject"] == TemplateSet().render(TemplateChannel.EMAIL, note).parts["subject"]
    )
    assert templates.render(TemplateChannel.WEBHOOK, note) == TemplateSet().render(
        TemplateChannel.WEBHOOK, note
    )


def test_templates_see_the_whole_context() -> None:
    names = [
        "kind", "alertname", "severity", "summary", "description", "label_text", "fingerprint",
        "receiver", "notification_id", "idempotency_key", "created_at", "created",
        "starts_at", "started",
    ]  # fmt: skip
    source = "|".join("{{ %s }}" % name for name in names)  # noqa: UP031 - Jinja braces
    templates = TemplateSet(config(webhook={"all": {"summary": source}}))
    note = notification(
        NotificationKind.ESCALATED, receiver="pager", key="k1", starts_at=T0 - 60, host="a"
    )

    summary = templates.render(TemplateChannel.WEBHOOK, note).parts["summary"]

    assert summary.split("|") == [
        "escalated", "HighCpu", "critical", "CPU is high", "", "host=a", note.fingerprint,
        "pager", "k1", "k1", "1700000000.0", "2023-11-14T22:13:20+00:00",
        "1699999940.0", "2023-11-14T22:12:20+00:00",
    ]  # fmt: skip


def test_the_email_says_since_when_the_alert_started_not_when_it_was_notified() -> None:
    escalated = notification(NotificationKind.ESCALATED, starts_at=T0 - 3600)
    rendered = TemplateSet().render(TemplateChannel.EMAIL, escalated).parts
    assert "Since: 2023-11-14T21:13:20+00:00\n" in rendered["text"]
    assert "<td>2023-11-14T21:13:20+00:00</td>" in rendered["html"]
    # Without a start (a notification recorded before starts_at existed): its creation.
    legacy = TemplateSet().render(TemplateChannel.EMAIL, notification()).parts["text"]
    assert "Since: 2023-11-14T22:13:20+00:00\n" in legacy


def test_user_templates_are_compiled_once_not_at_each_render(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    templates = TemplateSet(config(email={"all": {"text": "{{ alertname }}"}}))
    compiled: list[str] = []
    original = jinja2.Environment.from_string

    def counting(self: jinja2.Environment, source: str, *args: Any, **kwargs: Any) -> Any:
        compiled.append(source)
        return original(self, source, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "from_string", counting)

    for _ in range(3):
        templates.render(TemplateChannel.EMAIL, notification())

    assert compiled == []


# ---- failures -----------------------------------------------------------------------------


def test_a_template_that_does_not_compile_is_reported_once_and_the_default_used() -> None:
    reported: list[TemplateFailure] = []
    with capture_logs() as logs:
        templates = TemplateSet(
            config(email={"all": {"subject": "{{ broken"}}), on_failure=reported.append
        )
    note = notification()

    rendered = [templates.render(TemplateChannel.EMAIL, note) for _ in range(3)]

    [failure] = templates.load_failures
    assert reported == [failure]
    assert (failure.channel, failure.scope, failure.part, failure.stage) == (
        TemplateChannel.EMAIL,
        "all",
        "subject",
        "compile",
    )
    assert failure.error.startswith("TemplateSyntaxError")
    assert failure.describe().startswith("template email.all.subject does not compile")
    assert {r.parts["subject"] for r in rendered} == {"HighCpu (host=a): firing"}
    assert all(r.failures == () for r in rendered)
    assert templates.failure_counts == {("email", "subject", "compile"): 1}
    assert [log["event"] for log in logs] == ["template failed, default used"]
    assert logs[0]["log_level"] == "warning"
    assert logs[0]["stage"] == "compile"


def test_a_kind_override_that_does_not_compile_falls_back_to_the_default() -> None:
    templates = TemplateSet(
        config(email={"all": {"subject": "ALL"}, "firing": {"subject": "{% if %}"}})
    )

    firing = templates.render(TemplateChannel.EMAIL, notification()).parts["subject"]
    resolved = templates.render(
        TemplateChannel.EMAIL, notification(NotificationKind.RESOLVED)
    ).parts["subject"]

    assert (firing, resolved) == ("HighCpu (host=a): firing", "ALL")


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("{{ labels.missing.deeper }}", "UndefinedError"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ ''.__class__.__mro__ }}", "SecurityError"),
        ("{{ 'x' * 1000000000 }}", "SecurityError"),
        ("{{ 2 ** 100000 }}", "SecurityError"),
        ("{% for i in range(10**9) %}x{% endfor %}", "OverflowError"),
    ],
)
def test_a_template_that_fails_to_render_falls_back_and_is_reported_each_time(
    source: str, error: str
) -> None:
    reported: list[TemplateFailure] = []
    templates = TemplateSet(
        config(webhook={"firing": {"summary": source}}), on_failure=reported.append
    )
    note = notification()

    with capture_logs() as logs:
        first = templates.render(TemplateChannel.WEBHOOK, note)
        second = templates.render(TemplateChannel.WEBHOOK, note)

    assert first.parts["summary"] == "[FIRING] HighCpu (host=a): CPU is high"
    assert first == second
    [failure] = first.failures
    assert failure.stage == "render"
    assert failure.scope == "firing"
    assert failure.notification_id == note.id
    assert failure.error.startswith(error)
    assert reported == [failure, failure]
    assert templates.failure_counts == {("webhook", "summary", "render"): 2}
    assert [log["notification_id"] for log in logs] == [note.id, note.id]


def test_a_huge_output_is_cut_at_the_part_limit() -> None:
    templates = TemplateSet(
        config(
            email={
                "all": {
                    "subject": "{% for i in range(1000) %}abcdefghij{% endfor %}",
                    "text": "{% for i in range(99999) %}{{ alertname }}{% endfor %}",
                }
            }
        )
    )

    rendered = templates.render(TemplateChannel.EMAIL, notification())

    assert len(rendered.parts["subject"]) == MAX_LENGTHS["subject"]
    assert rendered.parts["subject"].endswith("…")
    assert len(rendered.parts["text"]) == MAX_LENGTHS["text"]
    assert rendered.failures == ()


# ---- configuration ------------------------------------------------------------------------


def test_check_templates_names_every_template_that_does_not_compile() -> None:
    broken = config(
        email={"firing": {"subject": "{{ x", "html": "ok"}}, slack={"all": {"text": "{% endif %}"}}
    )

    with pytest.raises(TemplateInvalid) as caught:
        check_templates(broken)

    assert [(f.channel.value, f.scope, f.part) for f in caught.value.failures] == [
        ("email", "firing", "subject"),
        ("slack", "all", "text"),
    ]
    assert "email.firing.subject does not compile" in str(caught.value)


def test_check_templates_accepts_templates_that_compile() -> None:
    check_templates(config(email={"all": {"subject": "{{ alertname }}"}}))
    check_templates(TemplatesConfig())


@pytest.mark.parametrize(
    ("channels", "field"),
    [
        ({"email": {"all": {"subjekt": "x"}}}, "subjekt"),
        ({"email": {"pending": {"subject": "x"}}}, "pending"),
        ({"sms": {"all": {"text": "x"}}}, "sms"),
        ({"slack": {"all": {"html": "x"}}}, "html"),
    ],
)
def test_a_bad_templates_config_names_the_field(channels: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        config(**channels)


_label_names = st.just("alertname") | st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
_texts = st.text(max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(list(NotificationKind)),
    labels=st.dictionaries(_label_names, _texts, max_size=5),
    annotations=st.dictionaries(st.sampled_from(["summary", "description", "x"]), _texts),
    long_summary=st.booleans(),
)
def test_the_webhook_summary_without_jinja_is_exactly_what_the_default_template_renders(
    kind: NotificationKind,
    labels: dict[str, str],
    annotations: dict[str, str],
    long_summary: bool,
) -> None:
    if long_summary:  # past MAX_LENGTHS["summary"]: cut the same way
        annotations = {**annotations, "summary": "é" * 1_200}
    # With or without an alertname; label names are valid, so no validation is skipped.
    note = notification(kind, annotations=annotations).model_copy(update={"labels": labels})
    entry = _defaults()[TemplateChannel.WEBHOOK, kind, "summary"]
    expected = _bounded(entry, _context(note), MAX_LENGTHS["summary"])
    rendered = TemplateSet().render(TemplateChannel.WEBHOOK, note)
    assert rendered.parts["summary"] == expected
    assert rendered.failures == ()


def test_a_webhook_summary_override_is_rendered_by_jinja_not_the_builtin() -> None:
    templates = TemplateSet(config(webhook={"resolved": {"summary": "done: {{ alertname }}"}}))
    resolved = notification(NotificationKind.RESOLVED)
    firing = notification(NotificationKind.FIRING)
    assert templates.render(TemplateChannel.WEBHOOK, resolved).parts["summary"] == "done: HighCpu"
    assert templates.render(TemplateChannel.WEBHOOK, firing).parts["summary"] == (
        "[FIRING] HighCpu (host=a): CPU is high"
    )


# ---- one part ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(NotificationKind))
@pytest.mark.parametrize("channel", list(TemplateChannel))
def test_rendering_one_part_gives_what_rendering_them_all_gives(
    channel: TemplateChannel, kind: NotificationKind
) -> None:
    overridden = config(
        email={"all": {"subject": "{{ alertname }} on {{ labels.host }}"}},
        slack={"resolved": {"text": "{{ kind }}: {{ alertname }}"}},
        webhook={"firing": {"summary": "{{ labels.host }} {{ severity }}"}},
    )
    for templates in (TemplateSet(), TemplateSet(overridden)):
        note = notification(kind, service="api-1")
        every = templates.render(channel, note).parts
        assert {part: templates.render_part(channel, part, note) for part in every} == every


def test_one_part_that_fails_to_render_falls_back_and_is_reported_once() -> None:
    reported: list[TemplateFailure] = []
    templates = TemplateSet(
        config(webhook={"firing": {"summary": "{{ 1 / 0 }}"}}), on_failure=reported.append
    )
    note = notification()
    with capture_logs() as logs:
        text = templates.render_part(TemplateChannel.WEBHOOK, "summary", note)
    assert text == "[FIRING] HighCpu (host=a): CPU is high"
    [failure] = reported
    assert (failure.stage, failure.part, failure.notification_id) == ("render", "summary", note.id)
    assert templates.failure_counts == {("webhook", "summary", "render"): 1}
    assert len(logs) == 1
