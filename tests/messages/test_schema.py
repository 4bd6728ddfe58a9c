from __future__ import annotations

import json

from pydantic import BaseModel

import messages
from messages import WIRE_MODELS, CallableRule, Message, RuleBase, json_schemas

NOT_ON_THE_WIRE = {Message, RuleBase, CallableRule}


def public_models() -> set[type[BaseModel]]:
    found = set()
    for name in messages.__all__:
        value = getattr(messages, name)
        if isinstance(value, type) and issubclass(value, BaseModel):
            found.add(value)
    return found


def test_json_schemas_cover_every_public_wire_model() -> None:
    schemas = json_schemas()
    for model in public_models() - NOT_ON_THE_WIRE:
        assert model.__name__ in schemas, model.__name__
    assert set(WIRE_MODELS) == public_models() - NOT_ON_THE_WIRE


def test_json_schemas_cover_every_union() -> None:
    schemas = json_schemas()
    for union in ("Rule", "AlertEvent", "Command", "ClientFrame", "ServerFrame"):
        assert "oneOf" in schemas[union], union
        assert schemas[union]["discriminator"]["propertyName"] == "type"


def test_callable_rules_have_no_schema() -> None:
    assert "CallableRule" not in json_schemas()


def test_every_schema_is_json_serialisable() -> None:
    for name, schema in json_schemas().items():
        assert json.loads(json.dumps(schema)) == schema, name


def test_every_wire_model_schema_has_a_type_constant() -> None:
    schemas = json_schemas()
    for model in WIRE_MODELS:
        type_property = schemas[model.__name__]["properties"]["type"]
        assert type_property["const"] == type_property["default"], model.__name__


def test_schemas_use_wire_names_and_accept_text_forms() -> None:
    threshold = json_schemas()["ThresholdRule"]
    assert "for" in threshold["properties"]
    assert "for_" not in threshold["properties"]
    selector_options = threshold["properties"]["selector"]["anyOf"]
    assert {"type": "string"} in selector_options


def test_each_call_returns_fresh_schemas() -> None:
    first = json_schemas()
    first["MetricSample"]["title"] = "changed"
    assert json_schemas()["MetricSample"]["title"] == "MetricSample"
