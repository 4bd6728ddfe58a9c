from __future__ import annotations

import types

import actors.store
from actors.store import MemoryStore, SqliteStore, Store


def test_all_names_exactly_the_public_api() -> None:
    public = {
        name
        for name, value in vars(actors.store).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(actors.store.__all__) == public


def test_every_name_in_all_is_importable_and_listed_once() -> None:
    for name in actors.store.__all__:
        assert getattr(actors.store, name) is not None, name
    assert len(actors.store.__all__) == len(set(actors.store.__all__))


def test_both_stores_implement_the_store_interface() -> None:
    # Checked by mypy: a store that drifts from the Protocol fails the type check here.
    stores: list[Store] = [SqliteStore(":memory:"), MemoryStore()]
    assert len(stores) == 2
