"""The public API is what ``supervision.__all__`` says, and the runtime stands alone."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import types
from pathlib import Path

import pytest

import supervision

DOMAIN_PACKAGES = {"messages", "actors", "gateway"}
PACKAGE_DIR = Path(supervision.__file__).parent


@pytest.mark.parametrize("name", supervision.__all__)
def test_every_name_in_all_is_importable_from_the_package(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from supervision import {name}", namespace)

    assert namespace[name] is getattr(supervision, name)


def test_all_is_sorted_and_unique() -> None:
    assert supervision.__all__ == sorted(set(supervision.__all__))


def test_every_public_name_of_the_package_is_in_all() -> None:
    public = {
        name
        for name, value in vars(supervision).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }

    assert public == set(supervision.__all__)


@pytest.mark.parametrize("name", supervision.__all__)
def test_every_exported_class_and_function_is_defined_in_the_runtime(name: str) -> None:
    value = getattr(supervision, name)
    if inspect.isclass(value) or inspect.isfunction(value):
        assert value.__module__.startswith("supervision.")
        assert value.__doc__, f"{name} has no docstring"


def test_importing_the_runtime_loads_no_domain_package() -> None:
    code = (
        "import sys, supervision; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(DOMAIN_PACKAGES)!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("path", sorted(PACKAGE_DIR.glob("*.py")), ids=lambda p: p.name)
def test_no_runtime_module_imports_a_domain_package(path: Path) -> None:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])

    assert not imported & DOMAIN_PACKAGES
