"""`gepakit.evaluate`: test-set scoring of a candidate or a Result."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import gepakit
from gepakit import ConfigError, EvaluatorError, Score
from gepakit.testing import ToyTask


def test_evaluate_a_result_and_a_dict() -> None:
    task = ToyTask(num_rules=3)
    result = gepakit.optimize(
        task.seed_candidate, task.trainset, task.valset, evaluator=task.evaluate,
        reflection_lm=task.reflect, max_metric_calls=80, progress=False,
    )  # fmt: skip
    best = gepakit.evaluate(result, task.valset, task.evaluate)
    assert best.score == pytest.approx(result.best_score)
    assert best.scores == dict(result.val_subscores[result.best_idx])
    seed = gepakit.evaluate(task.seed_candidate, task.valset, task.evaluate, workers=3)
    assert seed.score == pytest.approx(result.val_aggregate_scores[0])
    assert len(seed.rollouts) == len(task.valset) and seed.num_failed == 0
    assert repr(seed).startswith("Evaluation(score=")


def test_failures_count_with_failure_score_or_raise() -> None:
    def flaky(candidate: dict[str, str], example: dict[str, Any]) -> Score:
        if example["id"] == "b":
            raise RuntimeError("boom")
        return Score(1.0, feedback="ok")

    data = [{"id": "a"}, {"id": "b"}]
    ev = gepakit.evaluate({"p": "x"}, data, flaky, failure_score=0.25)
    assert ev.score == pytest.approx((1.0 + 0.25) / 2) and ev.num_failed == 1
    assert "boom" in (ev.rollouts[1].error or "")
    with pytest.raises(EvaluatorError, match="boom"):
        gepakit.evaluate({"p": "x"}, data, flaky, raise_on_exception=True)


def test_async_evaluator() -> None:
    async def judge(candidate: dict[str, str], example: dict[str, Any]) -> float:
        await asyncio.sleep(0)
        return 0.5

    assert gepakit.evaluate({"p": "x"}, [{"id": 1}, {"id": 2}], judge).score == 0.5


@pytest.mark.parametrize(
    ("candidate", "examples", "workers", "message"),
    [
        ({}, [{"id": 1}], 1, "candidate must be"),
        ("text", [{"id": 1}], 1, "candidate must be"),
        ({"p": "x"}, [], 1, "examples is empty"),
        ({"p": "x"}, [{"id": 1}], 0, "workers"),
    ],
)
def test_bad_inputs(candidate: Any, examples: Any, workers: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        gepakit.evaluate(candidate, examples, lambda c, e: 1.0, workers=workers)
