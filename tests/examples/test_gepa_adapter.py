"""Smoke test of examples/gepa_adapter: the same adapter under gepakit.gepa and gepa itself."""

from __future__ import annotations

import pytest

from gepakit.testing import ScriptedLM

from .conftest import load_example
from .test_plain_system import fake_reflection, fake_router


def test_adapter_runs_unchanged_on_gepakit() -> None:
    example = load_example("gepa_adapter")
    result, adapter = example.run(ScriptedLM(fake_router), fake_reflection, budget=120)
    assert result.total_metric_calls <= 120
    assert max(result.val_aggregate_scores) > result.val_aggregate_scores[0]
    # Batched: one evaluate call per minibatch or valset, far fewer than metric calls.
    assert adapter.evaluate_calls < result.total_metric_calls / 2


def test_the_same_adapter_runs_on_gepa_itself() -> None:
    gepa = pytest.importorskip("gepa")
    example = load_example("gepa_adapter")
    result, adapter = example.run(
        ScriptedLM(fake_router), fake_reflection, budget=120, optimizer=gepa
    )
    assert adapter.evaluate_calls > 0
    assert len(result.candidates) >= 1
