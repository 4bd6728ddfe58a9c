"""NotifiersConfig: receivers by kind, delivery policies, and errors that name the field."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from pydantic import ValidationError

from actors.notify import (
    DEFAULT_DELIVERY,
    DeliveryPolicy,
    EmailReceiverConfig,
    NotifiersConfig,
    SlackReceiverConfig,
    TemplatesConfig,
    WebhookReceiverConfig,
    notifier_name,
)

TOML = """
[[notify.webhook]]
name = "ops"
url = "https://hooks.example.org/tocsin"
payload = "alertmanager"
hmac_secret = "s3cret"

[[notify.slack]]
name = "team-chat"
url = "https://hooks.slack.com/services/T/B/X"

[[notify.email]]
name = "oncall-mail"
from = "tocsin@example.org"
to = ["oncall@example.org"]

[notify.websocket]

[notify.delivery.ops]
rate = 5
max_attempts = 20
"""


def load(data: dict[str, Any]) -> NotifiersConfig:
    return NotifiersConfig.model_validate(data)


def webhook(name: str = "ops") -> dict[str, Any]:
    return {"name": name, "url": "http://127.0.0.1:9/hook"}


def test_the_documented_toml_example_loads() -> None:
    config = load(tomllib.loads(TOML)["notify"])
    assert [r.name for r in config.receivers()] == ["ops", "team-chat", "oncall-mail", "websocket"]
    assert [notifier_name(r) for r in config.receivers()] == [
        "notifier:webhook:ops",
        "notifier:slack:team-chat",
        "notifier:email:oncall-mail",
        "notifier:websocket",
    ]
    [ops] = config.webhook
    assert ops.payload == "alertmanager"
    assert ops.hmac_secret is not None
    assert ops.hmac_secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(ops)


def test_a_receivers_policy_is_its_kinds_default_with_its_overrides() -> None:
    config = load(tomllib.loads(TOML)["notify"])
    ops, chat, mail, websocket = config.receivers()
    ops_policy = config.delivery_for(ops)
    assert (ops_policy.rate, ops_policy.max_attempts) == (5.0, 20)
    assert ops_policy.max_in_flight == DEFAULT_DELIVERY["webhook"].max_in_flight
    assert config.delivery_for(chat) == DEFAULT_DELIVERY["slack"]
    assert (config.delivery_for(chat).rate, config.delivery_for(chat).batch_max) == (1.0, 10)
    assert config.delivery_for(mail).max_in_flight == 1
    assert config.delivery_for(websocket) == DEFAULT_DELIVERY["websocket"]


def test_an_empty_config_has_no_receivers() -> None:
    assert load({}).receivers() == []


def test_receiver_names_must_be_unique_across_kinds() -> None:
    with pytest.raises(ValidationError, match="'ops' is used more than once"):
        load({"webhook": [webhook()], "slack": [webhook()]})


def test_a_receiver_name_cannot_hold_a_slash() -> None:
    with pytest.raises(ValidationError, match=r"webhook\.0\.name"):
        load({"webhook": [webhook("a/b")]})


def test_a_delivery_override_must_name_a_configured_receiver() -> None:
    with pytest.raises(ValidationError, match=r"delivery\.nobody: no receiver is named 'nobody'"):
        load({"webhook": [webhook()], "delivery": {"nobody": {"rate": 1}}})


def test_a_bad_delivery_override_names_the_receiver_and_the_field() -> None:
    with pytest.raises(
        ValidationError, match=r"delivery\.ops\.rate: Input should be greater than 0"
    ):
        load({"webhook": [webhook()], "delivery": {"ops": {"rate": -1}}})
    with pytest.raises(
        ValidationError, match=r"delivery\.ops\.no_such_field: Extra inputs are not permitted"
    ):
        load({"webhook": [webhook()], "delivery": {"ops": {"no_such_field": 1}}})


def test_templates_that_do_not_compile_are_refused_naming_each_by_channel_scope_and_part() -> None:
    templates = {
        "webhook": {"firing": {"summary": "{{ oops"}},
        "email": {"all": {"subject": "fine", "html": "{% if %}"}},
    }
    with pytest.raises(ValidationError) as caught:
        load({"webhook": [webhook()], "templates": templates})
    [error] = caught.value.errors()
    assert error["loc"] == ("templates",)
    problems = error["msg"].removeprefix("Value error, ").split("; ")
    assert [problem.split(":")[0] for problem in problems] == [
        "template email.all.html does not compile",
        "template webhook.firing.summary does not compile",
    ]
    # With jinja's own reason, and nothing said about a default: nothing will run.
    assert all(": TemplateSyntaxError: " in problem for problem in problems)
    assert "unexpected end of template" in problems[1]
    assert "default used" not in error["msg"]


def test_templates_that_do_not_compile_are_refused_when_built_in_python_too() -> None:
    broken = TemplatesConfig.model_validate({"slack": {"resolved": {"text": "{{ }}"}}})
    with pytest.raises(ValidationError, match=r"template slack\.resolved\.text does not compile"):
        NotifiersConfig(templates=broken)


def test_templates_that_compile_load_even_if_they_fail_when_rendered() -> None:
    # Rendering depends on the notification: a failure then is the run-time fallback's
    # (the default is used and counted), not the configuration's.
    templates = {
        "webhook": {"all": {"summary": "{{ labels.host }}: {{ 1 / 0 }}"}},
        "email": {"firing": {"subject": "{{ alertname }} {% if summary %}!{% endif %}"}},
    }
    config = load({"webhook": [webhook()], "templates": templates})
    assert set(config.templates.overrides()) == {
        ("webhook", "all", "summary"),
        ("email", "firing", "subject"),
    }


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (WebhookReceiverConfig, {"url": "http://127.0.0.1:9/hook"}),
        (SlackReceiverConfig, {"url": "http://127.0.0.1:9/slack"}),
        (EmailReceiverConfig, {"from": "tocsin@example.org", "to": ["a@example.org"]}),
    ],
)
def test_a_receiver_holds_no_templates_so_a_run_time_change_cannot_bring_one(
    model: type[WebhookReceiverConfig | SlackReceiverConfig | EmailReceiverConfig],
    fields: dict[str, Any],
) -> None:
    # put_receiver carries one receiver's config: templates are the notifiers' as a
    # whole, read from the configuration at start, so none arrives unchecked later.
    data = {"name": "r", **fields, "templates": {"webhook": {"all": {"summary": "{{ oops"}}}}
    with pytest.raises(ValidationError, match="templates") as caught:
        model.model_validate(data)
    assert [error["type"] for error in caught.value.errors()] == ["extra_forbidden"]


def test_a_webhook_needs_an_http_url_and_a_known_payload_format() -> None:
    with pytest.raises(ValidationError, match=r"webhook\.0\.url"):
        load({"webhook": [{"name": "ops", "url": "ftp://example.org"}]})
    with pytest.raises(ValidationError, match=r"webhook\.0\.payload"):
        load({"webhook": [{**webhook(), "payload": "pagerduty"}]})


def test_webhook_and_slack_secrets_may_come_from_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOCSIN_TEST_HOOK_URL", "https://hooks.example.org/t0ken")
    monkeypatch.setenv("TOCSIN_TEST_HOOK_SECRET", "from-env")
    monkeypatch.setenv("TOCSIN_TEST_HOOK_AUTH", "Bearer abc")
    monkeypatch.setenv("TOCSIN_TEST_SLACK_URL", "https://hooks.slack.com/services/T/B/env")
    hook = {
        "name": "ops",
        "url_env": "TOCSIN_TEST_HOOK_URL",
        "hmac_secret_env": "TOCSIN_TEST_HOOK_SECRET",
        "headers": {"X-Team": "ops"},
        "headers_env": {"Authorization": "TOCSIN_TEST_HOOK_AUTH"},
    }
    config = load(
        {"webhook": [hook], "slack": [{"name": "chat", "url_env": "TOCSIN_TEST_SLACK_URL"}]}
    )
    [ops] = config.webhook
    assert str(ops.url) == "https://hooks.example.org/t0ken"
    assert ops.hmac_secret is not None
    assert ops.hmac_secret.get_secret_value() == "from-env"
    assert ops.headers == {"X-Team": "ops", "Authorization": "Bearer abc"}
    [chat] = config.slack
    assert str(chat.url) == "https://hooks.slack.com/services/T/B/env"
    # The model holds the values: dumped and validated again, it needs no environment.
    monkeypatch.delenv("TOCSIN_TEST_HOOK_SECRET")
    assert type(ops).model_validate(ops.model_dump()) == ops


@pytest.mark.parametrize(
    ("receiver", "words"),
    [
        ({"url_env": "TOCSIN_TEST_UNSET"}, "url_env: environment variable TOCSIN_TEST_UNSET"),
        (
            {"url": "http://127.0.0.1:9", "hmac_secret_env": "TOCSIN_TEST_UNSET"},
            "hmac_secret_env: environment variable TOCSIN_TEST_UNSET is not set or empty",
        ),
        (
            {"url": "http://127.0.0.1:9", "headers_env": {"Authorization": "TOCSIN_TEST_UNSET"}},
            "headers_env.Authorization: environment variable TOCSIN_TEST_UNSET",
        ),
        (
            {"url": "http://127.0.0.1:9", "hmac_secret": "x", "hmac_secret_env": "HOME"},
            "give hmac_secret or hmac_secret_env, not both",
        ),
        (
            {
                "url": "http://127.0.0.1:9",
                "headers": {"Authorization": "x"},
                "headers_env": {"Authorization": "HOME"},
            },
            "'Authorization' is in both headers and headers_env",
        ),
    ],
)
def test_a_secret_from_an_unset_variable_or_from_two_places_names_the_receiver(
    monkeypatch: pytest.MonkeyPatch, receiver: dict[str, Any], words: str
) -> None:
    monkeypatch.delenv("TOCSIN_TEST_UNSET", raising=False)
    with pytest.raises(ValidationError, match=r"webhook\.0") as caught:
        load({"webhook": [{"name": "ops", **receiver}]})
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"rate": 0}, "rate"),
        ({"burst": 0}, "burst"),
        ({"batch_max": 0}, "batch_max"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"cool_down": 0}, "cool_down"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_age": float("inf")}, "max_age"),
        ({"backoff_base": 10, "backoff_cap": 1}, "backoff_cap"),
    ],
)
def test_a_delivery_policy_refuses_values_that_make_no_sense(
    fields: dict[str, float], field: str
) -> None:
    with pytest.raises(ValidationError, match=field):
        DeliveryPolicy.model_validate(fields)


def test_a_policy_builds_a_scheduler_with_its_settings() -> None:
    policy = DeliveryPolicy(rate=2.0, burst=3, batch_max=4, max_in_flight=5, failure_threshold=6)
    scheduler = policy.scheduler()
    assert scheduler.bucket is not None
    assert (scheduler.bucket.rate, scheduler.bucket.burst) == (2.0, 3.0)
    assert (scheduler.batch_max, scheduler.max_in_flight) == (4, 5)
    assert scheduler.breaker.failure_threshold == 6
    assert DeliveryPolicy().scheduler().bucket is None
