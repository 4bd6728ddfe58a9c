"""The examples run as documented."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


async def test_the_embedded_example_fires_acknowledges_resolves_and_silences() -> None:
    spec = importlib.util.spec_from_file_location("embedded_example", EXAMPLES / "embedded.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seen = await module.main()
    assert seen == [
        "alert_opened",
        "alert_acknowledged",
        "alert_resolved",
        "history: alert_opened, alert_acknowledged, alert_resolved",
        "silence active",
    ]
