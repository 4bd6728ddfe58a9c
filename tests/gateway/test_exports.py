"""The gateway package's public API is exactly what ``__all__`` names."""

from __future__ import annotations

import types

import gateway


def test_all_names_exactly_the_public_api() -> None:
    public = {
        name
        for name, value in vars(gateway).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(gateway.__all__) == public
    assert len(gateway.__all__) == len(set(gateway.__all__))


def test_every_name_in_all_is_importable() -> None:
    for name in gateway.__all__:
        assert getattr(gateway, name) is not None, name
