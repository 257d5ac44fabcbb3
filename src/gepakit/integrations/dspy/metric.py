"""The GEPA feedback metric: signature check and coercion of what it returns."""

from __future__ import annotations

import inspect
import math
import numbers
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


def as_score(raw: Any) -> float | None:
    """A metric score as a float: numbers, and bools as 1.0/0.0 (numpy's too); else None.

    DSPy metrics often return ``gold.answer == pred.answer`` (a bool, or a numpy bool
    when the values are numpy scalars), as DSPy's own tests do.
    """
    if isinstance(raw, numbers.Real):
        return float(raw)
    item = getattr(raw, "item", None)
    if type(raw).__module__ == "numpy" and callable(item):  # numpy bool_ and 0-d arrays
        value = item()
        return float(value) if isinstance(value, numbers.Real) else None
    return None


def _objectives(raw: Any) -> dict[str, float] | None:
    if not raw:
        return None
    out: dict[str, float] = {}
    for key, value in dict(raw).items():
        score = as_score(value)
        if score is None:
            raise TypeError(f"objective score {key!r} is not a number: {value!r}")
        out[str(key)] = score
    return out


def coerce_metric(value: Any) -> MetricValue:
    """Read a number, a bool, a mapping or an object with `score` (and `feedback`).

    Bools (Python or numpy) count as 1.0 and 0.0. Per-objective scores are read from
    `objective_scores` (DSPy's name) or `objectives`.

    Raises:
        TypeError: the value has no numeric score.
        ValueError: the score is not finite.
    """
    direct = as_score(value)
    if direct is not None:
        score, feedback, objectives = direct, None, None
    else:
        raw = _field(value, "score")
        score_or_none = as_score(raw)
        if score_or_none is None:
            raise TypeError(
                "the metric must return a number or an object with a numeric `score` "
                f"(dspy.Prediction(score=..., feedback=...)), got {value!r}. See {METRIC_DOCS}"
            )
        score = score_or_none
        fb = _field(value, "feedback")
        feedback = None if fb is None else str(fb)
        objectives = _objectives(_field(value, "objective_scores") or _field(value, "objectives"))
    if not math.isfinite(score):
        raise ValueError(f"the metric returned a non-finite score {score!r}")
    return MetricValue(score, feedback, objectives)


def score_feedback(score: float) -> str:
    """The feedback used when the metric gives none."""
    return f"The program scored {score:g} on this example; the metric gave no feedback."
