"""Shared fixtures for the whole suite."""

from __future__ import annotations

import os

import pytest


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
