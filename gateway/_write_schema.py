"""Write docs/protocol-schema.json: ``python -m gateway._write_schema [PATH]``."""

from __future__ import annotations

import sys
from pathlib import Path

from gateway._schema import PROTOCOL_SCHEMA_PATH, write_protocol_schema

if __name__ == "__main__":  # pragma: no cover - a developer's command
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else PROTOCOL_SCHEMA_PATH
    print(write_protocol_schema(target))
