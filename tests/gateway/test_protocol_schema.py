"""docs/protocol-schema.json is what the models say: python -m gateway._write_schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import ValidationError

from gateway import protocol_schema, write_protocol_schema
from gateway._schema import PROTOCOL_SCHEMA_PATH
from messages import CLIENT_FRAME_ADAPTER, SERVER_FRAME_ADAPTER


def test_the_committed_schema_file_is_up_to_date() -> None:
    assert PROTOCOL_SCHEMA_PATH.read_text(encoding="utf-8") == protocol_schema(), (
        "docs/protocol-schema.json is stale: run `python -m gateway._write_schema`"
    )


def test_the_schema_covers_every_client_and_server_frame(tmp_path: Path) -> None:
    path = write_protocol_schema(tmp_path / "schema.json")
    schemas = json.loads(path.read_text(encoding="utf-8"))["schemas"]
    client = {option["$ref"].rsplit("/", 1)[1] for option in schemas["ClientFrame"]["oneOf"]}
    server = {option["$ref"].rsplit("/", 1)[1] for option in schemas["ServerFrame"]["oneOf"]}
    assert "SubscribeFrame" in client
    assert "IngestFrame" in client
    assert {"WelcomeFrame", "EventFrame", "NotificationFrame", "ErrorFrame"} <= server
    assert all(name in schemas for name in client | server)


def test_every_frame_example_in_the_protocol_document_validates() -> None:
    text = (PROTOCOL_SCHEMA_PATH.parent / "PROTOCOL.md").read_text(encoding="utf-8")
    examples = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
    assert len(examples) >= 20
    for example in examples:
        data = example.encode()
        try:
            CLIENT_FRAME_ADAPTER.validate_json(data)
        except ValidationError:
            SERVER_FRAME_ADAPTER.validate_json(data)
