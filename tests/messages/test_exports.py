from __future__ import annotations

import ast
import sys
import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

import messages
from messages import WIRE_MODELS, CallableRule


def test_all_names_exactly_the_public_api() -> None:
    public = {
        name
        for name, value in vars(messages).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(messages.__all__) == public


def test_every_name_in_all_is_importable() -> None:
    for name in messages.__all__:
        assert getattr(messages, name) is not None, name


def test_all_has_no_duplicates() -> None:
    assert len(messages.__all__) == len(set(messages.__all__))


@pytest.mark.parametrize("model", [*WIRE_MODELS, CallableRule], ids=lambda m: m.__name__)
def test_every_message_is_frozen_forbids_extras_and_has_a_type_literal(
    model: type[BaseModel],
) -> None:
    assert model.model_config.get("frozen") is True
    assert model.model_config.get("extra") == "forbid"
    field = model.model_fields["type"]
    assert typing.get_origin(field.annotation) is typing.Literal
    assert typing.get_args(field.annotation) == (field.default,)


def test_type_literals_are_unique_within_each_union() -> None:
    for adapter in (
        messages.RULE_ADAPTER,
        messages.ALERT_EVENT_ADAPTER,
        messages.COMMAND_ADAPTER,
        messages.CLIENT_FRAME_ADAPTER,
        messages.SERVER_FRAME_ADAPTER,
    ):
        mapping = adapter.json_schema()["discriminator"]["mapping"]
        assert len(mapping) == len(set(mapping.values()))


def test_messages_import_only_the_standard_library_pydantic_and_themselves() -> None:
    allowed = set(sys.stdlib_module_names) | {"pydantic", "pydantic_core", "messages"}
    for path in Path(messages.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = [node.module.split(".")[0]]
            else:
                continue
            for root in roots:
                assert root in allowed, f"{path.name} imports {root}"
