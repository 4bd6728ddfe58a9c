"""The public names of gateway.config and gateway.system exist."""

from __future__ import annotations

import gateway.config
import gateway.system


def test_every_exported_name_of_config_and_system_exists() -> None:
    for module in (gateway.config, gateway.system):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"
    assert "AlertSystem" in gateway.system.__all__
    assert "TocsinConfig" in gateway.config.__all__
