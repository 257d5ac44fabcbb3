"""DSPy integration tests: skip without DSPy; reset DSPy's global settings per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

dspy = pytest.importorskip("dspy")


@pytest.fixture(autouse=True)
def _dspy_settings() -> Iterator[None]:
    """Each test configures its own task LM; nothing leaks into the next test."""
    with dspy.context(lm=None, adapter=None):
        yield
