"""Stop conditions, checked on a `StopView`, and the replaceable clock."""

from __future__ import annotations

from typing import Any

from gepakit.engine.acceptance import ImprovementOrEqual, StrictImprovement
from gepakit.engine.stopping import (
    CallableStop,
    Clock,
    NoImprovement,
    ScoreThreshold,
    StopView,
    Timeout,
)


def stop_view(**overrides: float) -> StopView:
    fields: dict[str, float] = {
        "metric_calls": 10,
        "best_score": 0.5,
        "num_candidates": 2,
        "proposals": 3,
        "proposals_since_improvement": 1,
        "elapsed": 1.0,
    }
    fields.update(overrides)
    return StopView(**fields)  # type: ignore[arg-type]


def test_timeout() -> None:
    assert Timeout(5).check(stop_view(elapsed=4.9)) is None
    assert "timeout of 5s" in (Timeout(5).check(stop_view(elapsed=5.0)) or "")


def test_no_improvement() -> None:
    assert NoImprovement(3).check(stop_view(proposals_since_improvement=2)) is None
    assert NoImprovement(3).check(stop_view(proposals_since_improvement=3))


def test_score_threshold() -> None:
    assert ScoreThreshold(0.9).check(stop_view(best_score=0.89)) is None
    assert "threshold 0.9" in (ScoreThreshold(0.9).check(stop_view(best_score=0.9)) or "")


def test_callable_stop_sees_the_view() -> None:
    seen: list[StopView] = []

    def stop(view: StopView) -> bool:
        seen.append(view)
        return view.metric_calls > 20

    assert CallableStop(stop).check(stop_view()) is None
    assert CallableStop(stop).check(stop_view(metric_calls=21)) == "stop callback returned True"
    assert seen[0].num_candidates == 2


def test_clock_measures_from_creation() -> None:
    now = [100.0]
    clock = Clock(lambda: now[0])
    now[0] = 112.5
    assert clock.elapsed() == 12.5


def test_acceptance_rules() -> None:
    assert StrictImprovement().decide([0.0, 1.0], [1.0, 1.0])[0]
    assert not StrictImprovement().decide([1.0, 0.0], [0.0, 1.0])[0]
    assert ImprovementOrEqual().decide([1.0, 0.0], [0.0, 1.0])[0]
    accepted, reason = ImprovementOrEqual().decide([1.0], [0.5])
    assert not accepted and "below" in reason


def test_timeout_does_not_overrun_by_a_valset_pass() -> None:
    """A timeout passing mid-proposal skips the child's valset evaluation."""
    import time

    import gepakit
    from gepakit.testing import ToyTask

    task = ToyTask(num_rules=2)
    val_calls = 0

    def slow_train(candidate: dict[str, str], example: dict[str, Any]) -> Any:
        nonlocal val_calls
        if str(example["id"]).startswith("v"):
            val_calls += 1
        else:
            time.sleep(0.15)  # the minibatch evaluation outlasts the timeout
        return task.evaluate(candidate, example)

    result = gepakit.optimize(
        task.seed_candidate, task.trainset, task.valset, evaluator=slow_train,
        reflection_lm=task.reflect, max_metric_calls=200, timeout=0.1, use_merge=False,
        progress=False,
    )  # fmt: skip
    assert result.stop_reason == "timeout of 0.1s reached"
    assert val_calls == len(task.valset)  # the seed's pass only
    assert result.num_candidates == 1
