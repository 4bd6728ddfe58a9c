"""TocsinConfig: defaults that work with no file, and errors that name the field."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from gateway.config import ConfigInvalid, TocsinConfig, load_config, parse_config

GOOD = """
[server]
host = "127.0.0.1"
port = 9000

[[auth.tokens]]
user = "admin"
roles = ["admin"]
token_env = "TOCSIN_TEST_ADMIN_TOKEN"

[[auth.tokens]]
user = "grafana"
roles = ["ingest"]
token = "ingest-secret-token"

[store]
path = "state/tocsin.db"

[rules]
files = ["rules.toml"]

[[rules.inline]]
type = "threshold"
id = "disk-full"
selector = "host_disk_used_percent"
op = ">"
threshold = 90
severity = "critical"

[receivers]
websocket = {}
webhook = [{ name = "ops", url = "http://127.0.0.1:9/hook", hmac_secret_env = "TOCSIN_TEST_HOOK" }]

[route]
receiver = "websocket"
routes = [{ receiver = "ops", matchers = ['severity="critical"'], escalation = "page" }]

[[escalation_policies]]
name = "page"
levels = [{ after = 0, receivers = ["ops"] }]

[[silences]]
matchers = ['alertname="disk-full"', 'host="build-1"']
duration = 3600

[collectors.host]
interval = 5

[limits]
max_connections = 100
"""

RULES = """
[[rules]]
type = "threshold"
id = "load-high"
selector = "host_load1"
op = ">"
threshold = 8
"""


def test_the_defaults_need_no_file_and_route_everything_to_the_websocket_receiver(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TOCSIN_DATA_DIR", str(tmp_path))
    config = load_config(None)
    assert config == TocsinConfig()
    assert config.store.resolved_path() == str(tmp_path / "tocsin.db")
    assert config.collectors.host.enabled
    assert config.server.enabled
    assert (config.server.host, config.server.port) == ("127.0.0.1", 8765)
    route = config.effective_route()
    assert route is not None
    assert route.receiver == "websocket"


def test_a_full_file_loads_with_secrets_from_the_environment_and_paths_beside_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TOCSIN_TEST_ADMIN_TOKEN", "admin-secret-from-env")
    monkeypatch.setenv("TOCSIN_TEST_HOOK", "hook-secret-from-env")
    (tmp_path / "tocsin.toml").write_text(GOOD)
    (tmp_path / "rules.toml").write_text(RULES)
    config = load_config(tmp_path / "tocsin.toml")
    assert config.rules.files == (tmp_path / "rules.toml",)
    assert [rule.id for rule in config.rules.inline] == ["disk-full"]
    gateway = config.gateway_config()
    assert gateway.port == 9000
    assert gateway.max_connections == 100
    secrets = {t.user: t.token.get_secret_value() for t in gateway.tokens}
    assert secrets == {"admin": "admin-secret-from-env", "grafana": "ingest-secret-token"}
    [hook] = config.receivers.webhook
    assert hook.hmac_secret is not None
    assert hook.hmac_secret.get_secret_value() == "hook-secret-from-env"


def test_every_bad_field_is_named_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOCSIN_UNSET_TOKEN", raising=False)
    data = {
        "server": {"port": 70000},
        "auth": {"tokens": [{"user": "a", "roles": ["admin"], "token_env": "TOCSIN_UNSET_TOKEN"}]},
        "rules": {"inline": [{"type": "threshold", "id": "x", "selector": "m", "op": "?"}]},
        "receivers": {"slack": [{"name": "chat", "url_env": "TOCSIN_UNSET_TOKEN"}]},
        "limits": {"burst": 0},
        "surprise": 1,
    }
    with pytest.raises(ConfigInvalid) as caught:
        parse_config(data, source="tocsin.toml")
    fields = [field for field, _ in caught.value.problems]
    assert fields == [
        "server.port",
        "auth.tokens.0",
        "rules.inline",
        "receivers.slack.0",
        "limits.burst",
        "surprise",
    ]
    text = str(caught.value)
    assert "less than or equal to 65535" in text
    assert "TOCSIN_UNSET_TOKEN is not set" in text
    assert "url_env: environment variable TOCSIN_UNSET_TOKEN" in text
    assert "rules[0] 'x'" in text


def test_a_route_to_an_unknown_receiver_names_the_known_ones() -> None:
    with pytest.raises(ConfigInvalid) as caught:
        parse_config({"route": {"receiver": "pager"}})
    assert "unknown receivers ['pager']" in str(caught.value)
    assert "configured receivers: ['websocket']" in str(caught.value)


def test_a_missing_rule_file_and_bad_toml_are_reported_by_field(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.toml"
    path.write_text('[rules]\nfiles = ["missing.toml"]\n')
    with pytest.raises(ConfigInvalid) as caught:
        load_config(path)
    assert caught.value.problems[0][0] == "rules.files.0"
    path.write_text("[server\n")
    with pytest.raises(ConfigInvalid) as caught:
        load_config(path)
    assert "not valid TOML" in str(caught.value)


BROKEN_TEMPLATE = """
[receivers]
websocket = {}

[receivers.templates.webhook.all]
summary = "{{ alertname }}"

[receivers.templates.webhook.firing]
summary = "{{ oops"
"""


def test_a_notification_template_that_does_not_compile_is_refused_by_field(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tocsin.toml"
    path.write_text(BROKEN_TEMPLATE)
    with pytest.raises(ConfigInvalid) as caught:
        load_config(path)
    [(field, reason)] = caught.value.problems
    assert field == "receivers.templates"
    assert reason.startswith(
        "template webhook.firing.summary does not compile: TemplateSyntaxError: "
    )
    assert "webhook.all" not in reason  # the one that compiles is not blamed


def test_a_notification_template_that_compiles_loads(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.toml"
    path.write_text(BROKEN_TEMPLATE.replace("{{ oops", "{{ alertname }} is firing"))
    config = load_config(path)
    assert config.receivers.templates.overrides() == {
        ("webhook", "all", "summary"): "{{ alertname }}",
        ("webhook", "firing", "summary"): "{{ alertname }} is firing",
    }


def test_the_full_example_in_docs_configuration_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "CONFIGURATION.md"
    example = doc.read_text().split("```toml\n")[1].split("```")[0]
    names = (
        "TOCSIN_ADMIN_TOKEN",
        "TOCSIN_INGEST_TOKEN",
        "TOCSIN_SMTP_PASSWORD",
        "TOCSIN_HOOK_SECRET",
    )
    for name in names:
        monkeypatch.setenv(name, f"{name.lower()}-value")
    data = tomllib.loads(example)
    data["rules"]["files"] = []  # the example's rule file is not in the repository
    config = parse_config(data)
    assert [policy.name for policy in config.escalation_policies] == ["page-oncall"]
    assert {r.name for r in config.receivers.receivers()} == {
        "websocket",
        "ops-hook",
        "oncall-mail",
        "ops-slack",
    }


def test_the_ingest_limits_reach_the_gateway_and_the_router_bound_stays_with_the_tree() -> None:
    config = parse_config({"limits": {"router_mailbox": 32, "ingest_timeout": 2.5}})
    assert config.limits.router_mailbox == 32
    gateway = config.gateway_config()
    assert gateway.ingest_timeout == 2.5
    assert not hasattr(gateway, "router_mailbox")
    with pytest.raises(ConfigInvalid) as caught:
        parse_config({"limits": {"router_mailbox": 0, "ingest_timeout": -1}})
    assert [field for field, _ in caught.value.problems] == [
        "limits.ingest_timeout",
        "limits.router_mailbox",
    ]


def test_series_idle_ttl_is_a_rules_setting_and_a_bad_one_is_named() -> None:
    assert TocsinConfig().rules.series_idle_ttl == 3600.0
    assert parse_config({"rules": {"series_idle_ttl": 120}}).rules.series_idle_ttl == 120.0
    for bad in (0, -5, "soon", float("inf")):
        with pytest.raises(ConfigInvalid) as caught:
            parse_config({"rules": {"series_idle_ttl": bad}})
        assert [field for field, _ in caught.value.problems] == ["rules.series_idle_ttl"]


def test_max_series_per_rule_is_a_rules_setting_and_a_bad_one_is_named() -> None:
    assert TocsinConfig().rules.max_series_per_rule == 100_000
    assert parse_config({"rules": {"max_series_per_rule": 0}}).rules.max_series_per_rule == 0
    for bad in (-1, 2.5, "many"):
        with pytest.raises(ConfigInvalid) as caught:
            parse_config({"rules": {"max_series_per_rule": bad}})
        assert [field for field, _ in caught.value.problems] == ["rules.max_series_per_rule"]


def test_receiver_users_name_the_route_and_the_escalation_policies() -> None:
    config = parse_config(
        {
            "receivers": {
                "websocket": {},
                "webhook": [{"name": "pager", "url": "http://127.0.0.1:9/"}],
            },
            "escalation_policies": [
                {"name": "night", "levels": [{"after": 0, "receivers": ["pager"]}]}
            ],
            "route": {"receiver": "websocket", "escalation": "night"},
        }
    )
    assert config.receiver_users() == {
        "websocket": ("the route",),
        "pager": ("escalation policy 'night'",),
    }


def test_the_alert_manager_section_bounds_the_resolved_alerts_kept_in_memory() -> None:
    config = parse_config({"alert_manager": {"max_resolved": 50, "max_ended_silences": 5}})
    manager = config.alert_manager_config()
    assert (manager.max_resolved, manager.max_ended_silences) == (50, 5)
    assert TocsinConfig().alert_manager_config().max_resolved == 10_000
    with pytest.raises(ConfigInvalid) as caught:
        parse_config({"alert_manager": {"max_resolved": -1, "keep": 3}})
    assert [field for field, _ in caught.value.problems] == [
        "alert_manager.max_resolved",
        "alert_manager.keep",
    ]
