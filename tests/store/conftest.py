"""Fixtures for the store tests: both stores behind one fixture, and a leak check."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from actors.store import MemoryStore, SqliteStore, Store

Opener = Callable[[], SqliteStore | MemoryStore]
"""Return a store over the same data every call: the same file, or the same MemoryStore."""


@pytest.fixture(autouse=True)
def no_store_thread_outlives_its_test() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    left = [
        thread
        for thread in threading.enumerate()
        if thread not in before and thread.name.startswith("tocsin-store")
    ]
    assert not left, f"store threads left running: {left}"


@pytest.fixture(params=["sqlite", "memory"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        return lambda: SqliteStore(path)
    memory = MemoryStore()
    return lambda: memory


@pytest.fixture
async def store(opener: Opener) -> AsyncIterator[Store]:
    opened = opener()
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
