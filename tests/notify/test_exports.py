"""The notify package's public API is exactly what ``__all__`` names."""

from __future__ import annotations

import types

import actors.notify


def test_all_names_exactly_the_public_api() -> None:
    public = {
        name
        for name, value in vars(actors.notify).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(actors.notify.__all__) == public
    assert len(actors.notify.__all__) == len(set(actors.notify.__all__))


def test_all_is_sorted() -> None:
    names = actors.notify.__all__
    constants = [name for name in names if name.isupper()]
    assert names == sorted(constants) + sorted(
        (name for name in names if not name.isupper()), key=lambda n: (n[0].islower(), n)
    )


def test_every_name_in_all_is_importable() -> None:
    for name in actors.notify.__all__:
        assert getattr(actors.notify, name) is not None, name
