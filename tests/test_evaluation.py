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


@pytest.mark.parametrize("workers", [1, 3])
def test_repeats_score_each_example_by_the_mean_of_its_draws(workers: int) -> None:
    from gepakit.testing import NoisyEvaluator

    task = ToyTask(num_rules=3, val_size=30)
    solved = task.solved_candidate()
    noisy = NoisyEvaluator(task.score, noise=0.6, seed=4)
    once = gepakit.evaluate(solved, task.valset, noisy, workers=workers)
    many = gepakit.evaluate(solved, task.valset, noisy, workers=workers, repeats=8)
    assert noisy.calls == 30 + 30 * 8
    assert [r.example_id for r in many.rollouts] == [e["id"] for e in task.valset]
    assert set(many.scores) == set(once.scores)
    # The true score is 1.0 everywhere; coin flips pull draws to 0.7 on average, and 8
    # draws per example spread much less around it than one.
    spread = [abs(s - 0.7) for s in many.scores.values()]
    spread_once = [abs(s - 0.7) for s in once.scores.values()]
    assert sum(spread) < 0.6 * sum(spread_once)
    with pytest.raises(ConfigError, match="repeats"):
        gepakit.evaluate(solved, task.valset, noisy, repeats=0)
