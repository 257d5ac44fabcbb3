"""Which val examples a new candidate is evaluated on (gepa's `val_evaluation_policy`).

A policy is asked, again and again, for the next val ids to evaluate a child on,
until it returns none. `FullEvaluation` (the default) asks for the whole valset
once; `SubsampleEvaluation` for a seeded sample; `ProgressiveEvaluation` for
growing chunks while the child keeps up with its parent on what was evaluated.

A candidate evaluated on part of the valset (by such a policy, or because the
budget ran out during its evaluation) joins the pool with the scores it has: its
aggregate is its mean over the evaluated examples and it leads the frontier only
where it was evaluated, as in gepa's subsample policy. Candidates record how many
examples were evaluated.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class ValView:
    """What a policy may look at when choosing the next ids for one child."""

    val_ids: Sequence[str]
    evaluated: Mapping[str, float]
    """The child's scores so far (empty on the first call)."""
    parent_scores: Mapping[str, float]
    """The val scores of the child's (better) parent, where it was evaluated."""
    rng: random.Random
    """Seeded afresh on every call from the run seed and the child's id: the same child
    gets the same draws."""


class ValPolicy(Protocol):
    """Chooses val ids to evaluate a new candidate on; an empty answer ends its evaluation."""

    def next_ids(self, view: ValView) -> Sequence[str]: ...


class FullEvaluation:
    """Every val example (GEPA's default)."""

    def next_ids(self, view: ValView) -> Sequence[str]:
        return [i for i in view.val_ids if i not in view.evaluated]

    def __eq__(self, other: object) -> bool:
        return type(other) is FullEvaluation

    def __hash__(self) -> int:
        return hash(FullEvaluation)


class SubsampleEvaluation:
    """A seeded random sample of `size` val examples per child (default: a quarter of
    the valset, at least 5)."""

    def __init__(self, size: int | None = None) -> None:
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ValueError(f"subsample size must be an integer >= 1, got {size!r}")
        self.size = size

    def next_ids(self, view: ValView) -> Sequence[str]:
        if view.evaluated:
            return []
        n = len(view.val_ids)
        k = min(n, self.size if self.size is not None else max(5, math.ceil(n / 4)))
        chosen = set(view.rng.sample(list(view.val_ids), k))
        return [i for i in view.val_ids if i in chosen]


class ProgressiveEvaluation:
    """Growing seeded chunks (`first` examples, then `growth` times more each round), as
    long as the child's mean on what was evaluated is at least its parent's mean on the
    same examples: a child that falls behind stops early and costs less."""

    def __init__(self, first: int | None = None, growth: float = 2.0) -> None:
        if first is not None and (
            isinstance(first, bool) or not isinstance(first, int) or first < 1
        ):
            raise ValueError(f"first chunk size must be an integer >= 1, got {first!r}")
        if not growth > 1.0:
            raise ValueError(f"growth must be > 1, got {growth!r}")
        self.first = first
        self.growth = float(growth)

    def next_ids(self, view: ValView) -> Sequence[str]:
        n = len(view.val_ids)
        done = len(view.evaluated)
        if done >= n:
            return []
        if done:
            common = [i for i in view.evaluated if i in view.parent_scores]
            if common:
                child = sum(view.evaluated[i] for i in common) / len(common)
                parent = sum(view.parent_scores[i] for i in common) / len(common)
                if child < parent:
                    return []
        first = self.first if self.first is not None else max(5, math.ceil(n / 5))
        target = min(n, first if not done else math.ceil(done * self.growth))
        # `rng` is seeded afresh for every call: one order per child, sliced round by round.
        order = list(view.val_ids)
        view.rng.shuffle(order)
        rest = [i for i in order if i not in view.evaluated]
        return rest[: target - done]


def policy_name(policy: ValPolicy) -> str:
    """The name `optimize` accepts for a built-in policy, else the class name."""
    names = {
        FullEvaluation: "full",
        SubsampleEvaluation: "subsample",
        ProgressiveEvaluation: "progressive",
    }
    return names.get(type(policy), type(policy).__qualname__)
