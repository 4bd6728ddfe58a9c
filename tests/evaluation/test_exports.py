"""The evaluation package's public API is exactly what ``__all__`` names."""

from __future__ import annotations

import types

import actors.evaluation


def test_all_names_exactly_the_public_api() -> None:
    public = {
        name
        for name, value in vars(actors.evaluation).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(actors.evaluation.__all__) == public
    assert len(actors.evaluation.__all__) == len(set(actors.evaluation.__all__))
