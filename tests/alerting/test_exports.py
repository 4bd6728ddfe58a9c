"""actors.alerting's public API is exactly what its __all__ names."""

from __future__ import annotations

import types

import actors.alerting


def test_all_names_exactly_the_public_api() -> None:
    public = {
        name
        for name, value in vars(actors.alerting).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(actors.alerting.__all__) == public


def test_all_is_sorted_constants_then_classes_then_functions_without_duplicates() -> None:
    names = actors.alerting.__all__

    def group(name: str) -> tuple[int, str]:
        if name.isupper():
            return (0, name)
        return (1, name) if name[0].isupper() else (2, name)

    assert names == sorted(names, key=group)
    assert len(names) == len(set(names))
