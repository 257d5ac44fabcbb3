"""Shared fixtures of the integration tests."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

# The DSPy tests need the `dspy` extra; without it they are not collected at all.
collect_ignore_glob = [] if importlib.util.find_spec("dspy") else ["test_dspy*.py", "dspy_suite/*"]


@pytest.fixture
def dspy_isolated() -> Iterator[None]:
    """Start a DSPy test with no task LM or adapter in context, and leak none afterwards."""
    dspy = pytest.importorskip("dspy")
    with dspy.context(lm=None, adapter=None):
        yield
