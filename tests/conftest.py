"""Shared fixtures for the whole suite."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping

import pytest

TEST_LOOP_ENV = "TOCSIN_TEST_LOOP"
"""Set to ``uvloop`` to run every async test on uvloop's event loop (the server's default
loop, gateway.cli); unset, tests run on asyncio's own loop, as the embedded API does."""

_test_loop = os.environ.get(TEST_LOOP_ENV, "")
if _test_loop not in ("", "asyncio", "uvloop"):
    raise pytest.UsageError(f"{TEST_LOOP_ENV}={_test_loop!r}: give uvloop or asyncio")

if _test_loop == "uvloop":
    import uvloop

    # pytest-asyncio 1.5 deprecates overriding the event_loop_policy fixture (a warning,
    # hence an error here); its loop-factory hook is the supported way to choose the loop.
    # Defined only when asked for: with the hook present, every async test takes its loop
    # from it.
    def pytest_asyncio_loop_factories(
        config: pytest.Config, item: pytest.Item
    ) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
        """Run every async test and fixture on uvloop's event loop."""
        return {"uvloop": uvloop.new_event_loop}


def require_binary(name: str) -> str:
    """Return the path of a server binary a test needs.

    Under CI (CI=true) a missing binary fails the test; elsewhere it skips with the reason.
    """
    import shutil

    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (.ci/test installs it with apt-get)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
