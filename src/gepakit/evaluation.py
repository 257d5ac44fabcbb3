"""`gepakit.evaluate`: score a candidate on examples outside any optimization budget.

For the test-set score of an optimized prompt::

    result = gepakit.optimize(...)
    test = gepakit.evaluate(result, testset, evaluator)    # or a dict of texts
    print(test.score, test.num_failed)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from gepakit.errors import ConfigError
from gepakit.types import Candidate, Example, Rollout

__all__ = ["Evaluation", "evaluate"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluation:
    """Scores of one candidate on some examples.

    `score` is the mean over all examples (failed ones count with `failure_score`);
    `scores` maps example id -> score; `rollouts` keep outputs, feedback and errors.
    """

    score: float
    scores: Mapping[str, float]
    rollouts: tuple[Rollout, ...]

    @property
    def num_failed(self) -> int:
        """Examples on which the evaluator raised."""
        return sum(r.error is not None for r in self.rollouts)

    def __repr__(self) -> str:
        return (
            f"Evaluation(score={self.score:.4g}, examples={len(self.rollouts)}, "
            f"failed={self.num_failed})"
        )


def evaluate(
    candidate: Any,
    examples: Sequence[Any],
    evaluator: Callable[..., Any],
    *,
    workers: int = 1,
    failure_score: float = 0.0,
    raise_on_exception: bool = False,
    repeats: int = 1,
) -> Evaluation:
    """Score `candidate` on `examples` with `evaluator`, as `optimize` would.

    Args:
        candidate: a dict of component name -> text, or a `Result` (its best candidate).
        examples: the examples (e.g. a held-out test set); ids as in `optimize`.
        evaluator: ``evaluator(candidate: dict, example) -> float | Score``, as given to
            `optimize` (``async def`` works too).
        workers: examples evaluated at once (threads).
        failure_score: score of an example on which the evaluator raised.
        raise_on_exception: raise `EvaluatorError` instead of scoring a failure.
        repeats: evaluate each example this many times and score the mean, as
            ``optimize(eval_repeats=...)`` does (for noisy evaluators); each rollout
            in the result is then the fold of its draws (`gepakit.engine.draws.fold`).

    Returns:
        An `Evaluation` with the mean score, per-example scores and the rollouts.

    Raises:
        ConfigError: bad candidate, examples, workers or repeats.
        EvaluatorError: the evaluator raised and `raise_on_exception` is set.
    """
    from gepakit.api import make_examples
    from gepakit.engine.draws import draw_id, fold
    from gepakit.engine.rollout import RolloutRunner
    from gepakit.result import Result

    texts = candidate.best_candidate if isinstance(candidate, Result) else candidate
    if not isinstance(texts, Mapping) or not texts:
        raise ConfigError(
            f"candidate must be a dict of component name -> text or a Result, got {candidate!r}"
        )
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"repeats must be an integer >= 1, got {repeats!r}")
    cand = Candidate(components=dict(texts))
    items = make_examples(examples, "examples")
    runner = RolloutRunner(
        evaluator, failure_score=failure_score, raise_on_exception=raise_on_exception
    )

    def one(draw: tuple[Example, int]) -> Rollout:
        example, d = draw
        drawn = example if d == 0 else Example(id=draw_id(example.id, d), data=example.data)
        return runner(cand, drawn, "val")

    draws = [(ex, d) for ex in items for d in range(repeats)]
    if workers == 1:
        done = [one(draw) for draw in draws]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            done = list(pool.map(one, draws))
    rollouts = [fold(done[k : k + repeats]) for k in range(0, len(done), repeats)]
    scores = {r.example_id: r.score for r in rollouts}
    return Evaluation(
        score=sum(scores.values()) / len(rollouts), scores=scores, rollouts=tuple(rollouts)
    )
