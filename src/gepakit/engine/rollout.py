"""Turn a user evaluator into a rollout function that never raises by accident."""

from __future__ import annotations

import asyncio
import inspect
import math
import numbers
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, cast

from gepakit.engine.draws import public_id
from gepakit.errors import EvaluatorError, InfrastructureError, is_infrastructure_failure
from gepakit.types import Candidate, Example, Rollout, Score, Split


def as_number(value: Any) -> float | None:
    """`value` as a float when it is a number: bool (True is 1.0), int, float, any
    `numbers.Real`, or a NumPy scalar (``numpy.bool_``, ``numpy.float32``); else None."""
    if isinstance(value, (bool, int, float, numbers.Real)):
        return float(value)
    item = getattr(value, "item", None)
    if type(value).__module__ == "numpy" and callable(item):
        plain = item()
        if isinstance(plain, (bool, int, float)):
            return float(plain)
    return None


def _score_value(value: Any, example_id: str) -> float:
    number = as_number(value)
    if number is None:
        raise TypeError(
            f"the score for example {example_id!r} is {type(value).__name__}; "
            "use a number or a bool"
        )
    return number


def coerce_score(value: Any, *, example_id: str) -> Score:
    """Accept a number or bool, a `Score`, or an object with `score` (and maybe `feedback`).

    Bool scores count as 1.0 / 0.0 (DSPy metrics often return ``gold == pred``), also
    inside a `Score`, a mapping or a ``dspy.Prediction``.
    """
    number = as_number(value)
    if isinstance(value, Score):
        out = replace(value, score=_score_value(value.score, example_id))
    elif number is not None:
        out = Score(number)
    elif isinstance(value, Mapping) and "score" in value:
        out = Score(
            _score_value(value["score"], example_id),
            feedback=value.get("feedback"),
            output=value.get("output"),
            trace=value.get("trace"),
            objectives=value.get("objectives"),
        )
    elif hasattr(value, "score"):
        value = cast(Any, value)
        out = Score(
            _score_value(value.score, example_id),
            feedback=getattr(value, "feedback", None),
            output=getattr(value, "output", None),
            trace=getattr(value, "trace", None),
            objectives=getattr(value, "objectives", None),
        )
    else:
        raise TypeError(
            f"evaluator returned {type(value).__name__} for example {example_id!r}; "
            "return a float or gepakit.Score(score, feedback=...)"
        )
    if not isinstance(out.score, (int, float)) or not math.isfinite(out.score):
        raise ValueError(
            f"evaluator returned a non-finite score {out.score!r} for example {example_id!r}"
        )
    objectives = {name: _score_value(v, example_id) for name, v in (out.objectives or {}).items()}
    for name, v in objectives.items():
        if not math.isfinite(v):
            raise ValueError(f"objective {name!r} is not finite ({v!r}) for {example_id!r}")
    return replace(out, objectives=objectives) if out.objectives else out


class RolloutRunner:
    """Calls the evaluator for one (candidate, example) and returns a `Rollout`.

    Exceptions and invalid scores become a rollout scored `failure_score` with the
    error and a feedback text, unless `raise_on_exception` is set. An LM or network
    outage (`gepakit.errors.is_infrastructure_failure`) raises `InfrastructureError`
    instead: it is not a result of the candidate. Thread-safe if the
    evaluator is. Picklable if the evaluator is (for process and Ray executors).
    """

    def __init__(
        self,
        evaluator: Callable[..., Any],
        *,
        failure_score: float = 0.0,
        raise_on_exception: bool = False,
    ) -> None:
        self.evaluator = evaluator
        self.failure_score = failure_score
        self.raise_on_exception = raise_on_exception
        self.is_async = is_async_callable(evaluator)

    def _rollout(
        self, candidate: Candidate, example: Example, split: Split, value: Any, started: float
    ) -> Rollout:
        score = coerce_score(value, example_id=public_id(example.id))
        return Rollout(
            candidate_id=candidate.id,
            example_id=example.id,
            split=split,
            score=float(score.score),
            feedback=score.feedback,
            output=score.output,
            trace=score.trace,
            objectives=dict(score.objectives or {}),
            duration=time.perf_counter() - started,
        )

    def _failure(
        self,
        candidate: Candidate,
        example: Example,
        split: Split,
        exc: BaseException,
        started: float,
    ) -> Rollout:
        shown = public_id(example.id)  # a repeated evaluation's draw runs on this example
        if is_infrastructure_failure(exc):  # not a result: the driver records nothing
            raise InfrastructureError(
                f"the rollout on example {shown!r} failed: {type(exc).__name__}: {exc}",
                example_id=shown,
            ) from exc
        if self.raise_on_exception:
            raise EvaluatorError(
                f"evaluator failed on example {shown!r}: {type(exc).__name__}: {exc}",
                example_id=shown,
            ) from exc
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return Rollout(
            candidate_id=candidate.id,
            example_id=example.id,
            split=split,
            score=self.failure_score,
            error=detail,
            feedback=f"The system failed on this example: {detail}",
            duration=time.perf_counter() - started,
        )

    def __call__(self, candidate: Candidate, example: Example, split: Split) -> Rollout:
        if self.is_async:  # on a thread, inline or remote executor: run it to completion here
            return asyncio.run(self.acall(candidate, example, split))
        started = time.perf_counter()
        try:
            value = self.evaluator(dict(candidate.components), example.data)
            return self._rollout(candidate, example, split, value, started)
        except Exception as exc:
            return self._failure(candidate, example, split, exc, started)

    async def acall(self, candidate: Candidate, example: Example, split: Split) -> Rollout:
        """Async variant for `async def` evaluators."""
        started = time.perf_counter()
        try:
            value = await self.evaluator(dict(candidate.components), example.data)
            return self._rollout(candidate, example, split, value, started)
        except Exception as exc:
            return self._failure(candidate, example, split, exc, started)


def is_async_callable(fn: Any) -> bool:
    """True for `async def` functions and objects whose `__call__` is one."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004
    )
