"""The GEPA feedback metric: signature check and coercion of what it returns."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gepakit.errors import ConfigError

METRIC_DOCS = "https://dspy.ai/api/optimizers/GEPA/overview/"


class MetricSignatureError(ConfigError, TypeError):
    """The metric cannot take GEPA's five arguments (a TypeError, as in dspy.GEPA)."""


def check_metric(metric: Any) -> Callable[..., Any]:
    """Check up front that `metric` accepts (gold, pred, trace, pred_name, pred_trace).

    Raises:
        MetricSignatureError: `metric` is not callable or cannot bind five arguments.
    """
    if not callable(metric):
        raise MetricSignatureError(
            f"metric must be a callable, got {type(metric).__name__}. See {METRIC_DOCS}"
        )
    try:
        signature = inspect.signature(metric)
    except (TypeError, ValueError):
        return metric  # builtins without a signature: let the first call tell
    try:
        signature.bind(None, None, None, None, None)
    except TypeError as exc:
        raise MetricSignatureError(
            "the GEPA metric must accept five arguments: "
            f"metric(gold, pred, trace=None, pred_name=None, pred_trace=None); got {signature} "
            f"({exc}). Give the last three a default of None to reuse a plain metric. "
            f"See {METRIC_DOCS}"
        ) from exc
    return metric


@dataclass(frozen=True, slots=True)
class MetricValue:
    """A metric result reduced to a score, an optional feedback and per-objective scores."""

    score: float
    feedback: str | None
    objectives: Mapping[str, float] | None


def _field(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name)
    getter = getattr(value, "get", None)
    if callable(getter):  # dspy.Prediction: item access, `.get` with default
        try:
            return getter(name)
        except Exception:
            return None
    return getattr(value, name, None)


def coerce_metric(value: Any) -> MetricValue:
    """Read a float, a bool, a mapping or an object with `score` (and `feedback`).

    Per-objective scores are read from `objective_scores` (DSPy's name) or `objectives`.

    Raises:
        TypeError: the value has no numeric score.
        ValueError: the score is not finite.
    """
    if isinstance(value, (bool, int, float)):
        score, feedback, objectives = float(value), None, None
    else:
        raw = _field(value, "score")
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise TypeError(
                "the metric must return a number or an object with a numeric `score` "
                f"(dspy.Prediction(score=..., feedback=...)), got {value!r}. See {METRIC_DOCS}"
            )
        score = float(raw)
        fb = _field(value, "feedback")
        feedback = None if fb is None else str(fb)
        objs = _field(value, "objective_scores") or _field(value, "objectives")
        objectives = {str(k): float(v) for k, v in objs.items()} if objs else None
    if not math.isfinite(score):
        raise ValueError(f"the metric returned a non-finite score {score!r}")
    return MetricValue(score, feedback, objectives)


def score_feedback(score: float) -> str:
    """The feedback used when the metric gives none."""
    return f"The program scored {score:g} on this example; the metric gave no feedback."
