"""Scenario 5, files: bad rule files and bad configs give errors by field, never half a change.

``tocsin check-config`` and ``tocsin serve`` run as real subprocesses: a bad file makes
both exit 1 naming the field (a notification template that does not compile too), and
``serve`` starts nothing (no store file, no port). A
rule change whose third of five rules is invalid (a rules file loaded at run time, or
one batch) applies none of them, on a running ``AlertSystem``.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import pytest

from actors import ApplyRules, LoadRuleFile, RuleFileError
from gateway.config import parse_config
from gateway.system import AlertSystem
from messages import RuleInvalid, ThresholdRule
from tests.faults.server import BOUND


def _rule_table(n: int, extra: str = "") -> str:
    return (
        f'[[rules]]\ntype = "threshold"\nid = "r{n}"\nselector = "m{n}"\nop = ">"\n'
        f"threshold = {n}\n{extra}\n"
    )


BAD_THIRD_RULES = {
    "template": 'annotations = { summary = "{{ value" }',
    "operator": 'severity = "urgent"',
}
"""How the third rule of five is broken, and the field the error must name."""
BAD_FIELDS = {"template": "annotations.summary", "operator": "severity"}


def _rules_file(path: Path, broken: str) -> Path:
    path.write_text("".join(_rule_table(n, broken if n == 3 else "") for n in range(1, 6)))
    return path


async def _tocsin(*args: str, env_dir: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={"TOCSIN_DATA_DIR": str(env_dir), "TOCSIN_TOKEN": "a-token-for-bad-files",
             "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    async with asyncio.timeout(BOUND):
        stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _nothing_listens(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("broken", sorted(BAD_THIRD_RULES))
async def test_a_rules_file_whose_third_rule_is_bad_fails_check_config_and_serve_by_field(
    tmp_path: Path, broken: str
) -> None:
    _rules_file(tmp_path / "rules.toml", BAD_THIRD_RULES[broken])
    config = tmp_path / "tocsin.toml"
    config.write_text('[rules]\nfiles = ["rules.toml"]\n\n[collectors.host]\nenabled = false\n')
    data = tmp_path / "data"

    status, _, errors = await _tocsin("check-config", str(config), env_dir=data)
    assert status == 1
    assert "rules.files.0" in errors
    assert "rules[2]" in errors
    assert "'r3'" in errors
    assert BAD_FIELDS[broken] in errors

    port = _free_port()
    status, out, errors = await _tocsin(
        "serve", "--config", str(config), "--port", str(port), env_dir=data
    )
    assert status == 1
    assert "serving" not in out
    assert BAD_FIELDS[broken] in errors
    assert "Traceback" not in errors
    assert not (data / "tocsin.db").exists()  # nothing started: no store was opened
    assert _nothing_listens(port)


async def test_a_config_with_several_bad_fields_names_every_one_and_starts_nothing(
    tmp_path: Path,
) -> None:
    config = tmp_path / "tocsin.toml"
    config.write_text(
        "[limits]\nrate = -1\nmax_frame_bytes = 10\n\n"
        "[store]\nsynchronous = 'sometimes'\n\n"
        "[[rules.inline]]\ntype = 'threshold'\nid = 'ok'\nselector = 'm'\nop = '>'\n"
        "threshold = 1\n\n"
        "[[rules.inline]]\ntype = 'threshold'\nid = 'ok'\nselector = 'm'\nop = '>'\n"
        "threshold = 2\n\n"
        "[bogus]\nx = 1\n"
    )
    data = tmp_path / "data"
    for args in (("check-config", str(config)), ("serve", "--config", str(config))):
        status, out, errors = await _tocsin(*args, env_dir=data)
        assert status == 1, (args, out, errors)
        for field in ("limits.rate", "limits.max_frame_bytes", "store.synchronous", "bogus"):
            assert field in errors, (args, field, errors)
        assert "rules.inline" in errors
        assert "duplicate id" in errors
        assert "Traceback" not in errors
    assert not (data / "tocsin.db").exists()


async def test_a_notification_template_that_does_not_compile_fails_check_config_and_serve(
    tmp_path: Path,
) -> None:
    config = tmp_path / "tocsin.toml"
    config.write_text(
        "[collectors.host]\nenabled = false\n\n"
        "[receivers]\nwebsocket = {}\n\n"
        "[receivers.templates.webhook.firing]\nsummary = '{{ oops'\n"
    )
    data = tmp_path / "data"
    port = _free_port()
    for args in (
        ("check-config", str(config)),
        ("serve", "--config", str(config), "--port", str(port)),
    ):
        status, out, errors = await _tocsin(*args, env_dir=data)
        assert status == 1, (args, out, errors)
        assert "receivers.templates: template webhook.firing.summary does not compile" in errors
        assert "TemplateSyntaxError" in errors
        assert "Traceback" not in errors
        assert "OK" not in out
        assert "serving" not in out
    assert not (data / "tocsin.db").exists()  # nothing started: no store was opened
    assert _nothing_listens(port)


async def test_a_rule_change_whose_third_of_five_rules_is_bad_applies_none_of_them(
    tmp_path: Path,
) -> None:
    keep = {"id": "keep", "selector": "k", "op": ">", "threshold": 1}
    good = [ThresholdRule.model_validate(keep)]
    config = parse_config(
        {
            "server": {"enabled": False},
            "store": {"path": ":memory:"},
            "collectors": {"host": {"enabled": False}},
            "rules": {"inline": [rule.model_dump(by_alias=True) for rule in good]},
        }
    )
    async with AlertSystem(config) as system:
        rule_set = system.system.lookup("/alerting/rules/rule-set")
        before = await system.list_rules()
        assert [rule.id for rule in before] == ["keep"]

        path = _rules_file(tmp_path / "rules.toml", BAD_THIRD_RULES["template"])
        with pytest.raises(RuleFileError) as loaded:
            await rule_set.ask(LoadRuleFile(path=path, prune=True), timeout=BOUND)
        assert "annotations.summary" in loaded.value.reason
        assert await system.list_rules() == before

        rules = [
            ThresholdRule.model_validate(
                {
                    "id": f"r{n}",
                    "selector": f"m{n}",
                    "op": ">",
                    "threshold": n,
                    "annotations": {"summary": "{{ value" if n == 3 else "{{ value }}"},
                }
            )
            for n in range(1, 6)
        ]
        with pytest.raises(RuleInvalid) as applied:
            await rule_set.ask(ApplyRules(rules=tuple(rules)), timeout=BOUND)
        assert (applied.value.index, applied.value.field) == (2, "annotations.summary")
        assert await system.list_rules() == before
