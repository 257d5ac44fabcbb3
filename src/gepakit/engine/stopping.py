"""Stop conditions beyond the budget. Each returns a reason to stop, or None."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class StopView:
    """What a stop condition may look at."""

    metric_calls: int
    best_score: float
    num_candidates: int
    proposals: int
    proposals_since_improvement: int
    elapsed: float
    reflection_calls: int = 0
    """Reflection LM calls so far (from the usage ledger; proposer invocations when the
    proposer's calls are not in the ledger, e.g. a custom instruction_proposer)."""
    cost_usd: float = 0.0
    """USD spent on LM calls so far, all roles (calls of unknown price count as 0)."""


class StopCondition(Protocol):
    """Checked before each new proposal starts; in-flight work always finishes."""

    def check(self, view: StopView) -> str | None: ...


class Timeout:
    """Stop after `seconds` of wall time in this session."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def check(self, view: StopView) -> str | None:
        if view.elapsed >= self.seconds:
            return f"timeout of {self.seconds:g}s reached"
        return None


class NoImprovement:
    """Stop after `patience` finished proposals without a new best score."""

    def __init__(self, patience: int) -> None:
        self.patience = patience

    def check(self, view: StopView) -> str | None:
        if view.proposals_since_improvement >= self.patience:
            return f"no improvement in {self.patience} proposals"
        return None


class ScoreThreshold:
    """Stop once the best mean val score reaches `threshold`."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def check(self, view: StopView) -> str | None:
        if view.best_score >= self.threshold:
            return f"best score {view.best_score:g} reached the threshold {self.threshold:g}"
        return None


class MaxCost:
    """Stop once the LM usage ledger reaches `usd` dollars (gepa: max_reflection_cost)."""

    def __init__(self, usd: float) -> None:
        self.usd = usd

    def check(self, view: StopView) -> str | None:
        if view.cost_usd >= self.usd:
            return f"LM cost ${view.cost_usd:.4f} reached max_cost_usd=${self.usd:g}"
        return None


class MaxReflectionCalls:
    """Stop once `calls` reflection LM calls were made."""

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def check(self, view: StopView) -> str | None:
        if view.reflection_calls >= self.calls:
            return (
                f"{view.reflection_calls} reflection calls reached "
                f"max_reflection_calls={self.calls}"
            )
        return None


class CallableStop:
    """Adapts ``fn(view) -> bool``."""

    def __init__(self, fn: Callable[[StopView], bool]) -> None:
        self.fn = fn

    def check(self, view: StopView) -> str | None:
        return "stop callback returned True" if self.fn(view) else None


class Clock:
    """Monotonic elapsed time; replaceable in tests."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._start = now()

    def elapsed(self) -> float:
        return self._now() - self._start
