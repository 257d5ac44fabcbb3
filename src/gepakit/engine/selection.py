"""Parent (candidate) selection and component selection strategies."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from gepakit.engine.pareto import Frontier, leader_counts, sample_pareto_parent
from gepakit.types import Rollout


@dataclass(frozen=True, slots=True, kw_only=True)
class SelectionView:
    """What a candidate selector may look at. Read-only; do not keep it."""

    candidates: Sequence[Mapping[str, str]]
    aggregate_scores: Sequence[float]
    frontier: Frontier


class CandidateSelector(Protocol):
    """Chooses the parent of the next reflective proposal.

    Called from the engine thread only; must return an index into `view.candidates`.
    """

    def select(self, view: SelectionView, rng: random.Random) -> int: ...


class ParetoSelector:
    """Sample among non-dominated candidates, weighted by how many examples they lead."""

    def __init__(self) -> None:
        self._cache_version = -1
        self._cache_len = -1
        self._counts: dict[int, int] = {}

    def select(self, view: SelectionView, rng: random.Random) -> int:
        frontier = view.frontier
        n = len(view.aggregate_scores)
        if frontier.version != self._cache_version or n != self._cache_len:
            self._counts = leader_counts(frontier, view.aggregate_scores)
            self._cache_version, self._cache_len = frontier.version, n
        return sample_pareto_parent(frontier, view.aggregate_scores, rng, self._counts)


class TopKParetoSelector:
    """Pareto selection among the `k` candidates with the highest mean val score
    (gepa's "top_k_pareto"); the best candidate when none of them leads anywhere."""

    def __init__(self, k: int = 5) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"top_k must be an integer >= 1, got {k!r}")
        self.k = k

    def select(self, view: SelectionView, rng: random.Random) -> int:
        scores = view.aggregate_scores
        top = set(sorted(range(len(scores)), key=lambda i: (-scores[i], i))[: self.k])
        counts = {c: n for c, n in leader_counts(view.frontier, scores).items() if c in top}
        if not counts:
            return CurrentBestSelector().select(view, rng)
        ordered = sorted(counts)
        return rng.choices(ordered, weights=[counts[c] for c in ordered], k=1)[0]


class CurrentBestSelector:
    """Always the candidate with the highest mean val score (earliest on ties)."""

    def select(self, view: SelectionView, rng: random.Random) -> int:
        scores = view.aggregate_scores
        return max(range(len(scores)), key=lambda i: (scores[i], -i))


class EpsilonGreedySelector:
    """The current best, or with probability `epsilon` a uniformly random candidate."""

    def __init__(self, epsilon: float = 0.1) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.epsilon = epsilon

    def select(self, view: SelectionView, rng: random.Random) -> int:
        if rng.random() < self.epsilon:
            return rng.randrange(len(view.aggregate_scores))
        return CurrentBestSelector().select(view, rng)


class CallableSelector:
    """Adapts ``fn(candidates, aggregate_scores, rng) -> index``."""

    def __init__(self, fn: Callable[..., int]) -> None:
        self.fn = fn

    def select(self, view: SelectionView, rng: random.Random) -> int:
        index = self.fn(view.candidates, view.aggregate_scores, rng)
        if not isinstance(index, int) or not 0 <= index < len(view.candidates):
            raise ValueError(
                f"candidate selector returned {index!r}; expected an index "
                f"in [0, {len(view.candidates)})"
            )
        return index


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentView:
    """What a component selector may look at for one proposal."""

    candidate_index: int
    candidate: Mapping[str, str]
    rollouts: Sequence[Rollout]


class ComponentSelector(Protocol):
    """Chooses which components of the parent the next proposal rewrites."""

    def select(self, view: ComponentView, state: dict[int, int]) -> list[str]: ...


class RoundRobinComponents:
    """One component per proposal, cycling per candidate (state: candidate -> pointer)."""

    def select(self, view: ComponentView, state: dict[int, int]) -> list[str]:
        names = list(view.candidate)
        pointer = state.get(view.candidate_index, 0)
        state[view.candidate_index] = (pointer + 1) % len(names)
        return [names[pointer % len(names)]]


class AllComponents:
    """Every component in every proposal."""

    def select(self, view: ComponentView, state: dict[int, int]) -> list[str]:
        return list(view.candidate)


class CallableComponents:
    """Adapts ``fn(candidate, rollouts) -> list of component names``."""

    def __init__(self, fn: Callable[..., Sequence[str]]) -> None:
        self.fn = fn

    def select(self, view: ComponentView, state: dict[int, int]) -> list[str]:
        return checked_components(self.fn(dict(view.candidate), list(view.rollouts)), view)


def checked_components(
    chosen: str | Sequence[str], view: ComponentView, who: str = "component selector"
) -> list[str]:
    """A selector's choice as a list of names (one name counts as a list of one).

    Raises:
        ValueError: the choice is empty or names a component the candidate lacks.
    """
    names = [chosen] if isinstance(chosen, str) else list(chosen)
    unknown = [c for c in names if c not in view.candidate]
    if not names or unknown:
        raise ValueError(
            f"{who} returned {chosen!r}; expected a non-empty list of names from "
            f"{sorted(view.candidate)}"
        )
    return names
