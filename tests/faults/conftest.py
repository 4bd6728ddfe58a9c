"""Every test under tests/faults carries the ``faults`` marker: ``pytest -m faults`` runs them.

``--soak-seconds S`` sets how long the soak (scenario 7) runs (30 s by default, the CI
version); ``--soak`` is the 10-minute run (600 s). Pass them with tests/faults on the
command line (``pytest tests/faults -k soak --soak -s``): pytest reads options only
from the conftest files of the paths it is given.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent

SOAK_SECONDS = 30.0
"""The CI soak's length."""

LONG_SOAK_SECONDS = 600.0
"""``--soak``: the 10-minute soak."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tocsin faults")
    group.addoption(
        "--soak-seconds",
        type=float,
        default=None,
        help=f"how long the soak scenario runs (default {SOAK_SECONDS:g} s)",
    )
    group.addoption(
        "--soak",
        action="store_true",
        default=False,
        help=f"run the {LONG_SOAK_SECONDS:g}-second soak instead of the CI one",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    soak = soak_length(config)
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.faults)
            if "soak_seconds" in getattr(item, "fixturenames", ()):
                # The suite's per-test timeout cannot hold a soak: give it its length
                # plus the time to start and stop the server and drain the load.
                item.add_marker(pytest.mark.timeout(soak + 120))


def soak_length(config: pytest.Config) -> float:
    """``--soak-seconds``, else 600 with ``--soak``, else 30."""
    seconds = config.getoption("--soak-seconds", default=None)
    if seconds is not None:
        return float(seconds)
    if config.getoption("--soak", default=False):
        return LONG_SOAK_SECONDS
    return SOAK_SECONDS


@pytest.fixture
def soak_seconds(request: pytest.FixtureRequest) -> float:
    """How long the soak runs: ``--soak-seconds``, else 600 with ``--soak``, else 30."""
    return soak_length(request.config)
