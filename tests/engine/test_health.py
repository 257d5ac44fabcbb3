"""Scores: bools count, evaluator failures are warned about, counted, and stop a run."""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest

import gepakit
from gepakit.engine.health import DEFAULT_MAX_ERROR_RATE
from gepakit.engine.rollout import RolloutRunner, coerce_score
from gepakit.testing import ToyTask
from gepakit.types import Candidate, Example, Score


class Prediction:
    """Stands for dspy.Prediction(score=..., feedback=...)."""

    def __init__(self, score: Any, feedback: str = "") -> None:
        self.score = score
        self.feedback = feedback


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, 1.0),
        (False, 0.0),
        (Score(True, feedback="ok"), 1.0),
        ({"score": False, "feedback": "no"}, 0.0),
        (Prediction("a" == "a"), 1.0),
    ],
)
def test_bool_scores_are_numbers(value: Any, expected: float) -> None:
    score = coerce_score(value, example_id="e")
    assert score.score == expected and type(score.score) is float


def test_numpy_scalars_are_numbers() -> None:
    np = pytest.importorskip("numpy")  # not a dependency; metrics often return its types
    for value, expected in ((np.bool_(True), 1.0), (np.float32(0.5), 0.5), (np.int64(1), 1.0)):
        assert coerce_score(value, example_id="e").score == expected
        assert coerce_score(Prediction(value), example_id="e").score == expected


def test_bool_objectives_and_a_bool_score_reach_the_rollout() -> None:
    runner = RolloutRunner(lambda c, ex: Score(True, objectives={"exact": False}))
    rollout = runner(Candidate(components={"p": "x"}), Example(id="e", data={}), "val")
    assert (rollout.score, dict(rollout.objectives), rollout.error) == (1.0, {"exact": 0.0}, None)


def test_non_numbers_are_still_refused() -> None:
    with pytest.raises(TypeError, match="'e'"):
        coerce_score(Prediction("high"), example_id="e")


def optimize(evaluator: Any, **kw: Any) -> gepakit.Result:
    task = ToyTask(train_size=6, val_size=4)
    return gepakit.optimize(
        task.seed_candidate,
        task.trainset,
        task.valset,
        evaluator=evaluator,
        reflection_lm=task.reflect,
        max_metric_calls=60,
        progress=False,
        **kw,
    )


def test_failures_are_warned_about_once_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    task = ToyTask(train_size=6, val_size=4)

    def flaky(candidate: dict[str, str], example: dict[str, Any]) -> Any:
        if example["id"] == "v1":
            raise RuntimeError("the grader crashed")
        if example["id"] == "t2":
            return math.nan
        return task.evaluate(candidate, example)

    with caplog.at_level(logging.WARNING, logger="gepakit"):
        result = optimize(flaky)
    warnings = [r.getMessage() for r in caplog.records if "evaluator failed" in r.getMessage()]
    assert len(warnings) == 1
    assert "'v1'" in warnings[0] and "RuntimeError: the grader crashed" in warnings[0]
    # Every candidate failed on v1, and t2 gave NaN whenever it was in a minibatch.
    assert result.evaluator_errors >= result.num_candidates + 1
    assert gepakit.Result.from_json(result.to_json()).evaluator_errors == result.evaluator_errors


def test_a_mostly_failing_evaluation_stops_the_run_with_a_clear_error() -> None:
    task = ToyTask(train_size=6, val_size=4)

    def broken_after_seed(candidate: dict[str, str], example: dict[str, Any]) -> Any:
        if candidate != task.seed_candidate and example["id"] != "t0":
            raise ValueError("cannot parse the output")
        return task.evaluate(candidate, example)

    assert DEFAULT_MAX_ERROR_RATE == 0.5
    with pytest.raises(gepakit.EvaluatorError, match=r"max_error_rate=0\.5") as caught:
        optimize(broken_after_seed)
    message = str(caught.value)
    assert "failed on" in message and "cannot parse the output" in message
    assert "max_error_rate=None" in message  # says how to go on instead
    # With the threshold off, the run goes on and scores the failures.
    result = optimize(broken_after_seed, max_error_rate=None)
    assert result.evaluator_errors > 0 and result.best_idx == 0
    # A looser threshold lets two failures in a minibatch of three through.
    assert optimize(broken_after_seed, max_error_rate=1.0).evaluator_errors > 0


@pytest.mark.parametrize("bad", [-0.1, 1.5, "half", True, math.nan])
def test_max_error_rate_is_checked_up_front(bad: Any) -> None:
    with pytest.raises(gepakit.ConfigError, match="max_error_rate"):
        optimize(ToyTask().evaluate, max_error_rate=bad)
