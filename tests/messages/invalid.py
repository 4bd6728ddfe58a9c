"""Assert that input is rejected with an error naming the field and the reason."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import ValidationError


def assert_invalid(build: Callable[[], object], field: str, reason: str) -> ValidationError:
    """Run ``build``; require a ValidationError at ``field`` whose text has ``reason``.

    ``field`` is the dotted location (``samples.0.value``), as pydantic prints it.
    Returns the error for further checks.
    """
    with pytest.raises(ValidationError) as caught:
        build()
    errors = {".".join(str(part) for part in e["loc"]): e["msg"] for e in caught.value.errors()}
    assert field in errors, f"no error at {field!r}: {errors}"
    assert reason in errors[field], f"{errors[field]!r} does not say {reason!r}"
    assert field.split(".")[0] in str(caught.value)
    return caught.value
