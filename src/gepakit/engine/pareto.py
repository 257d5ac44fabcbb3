"""Per-instance Pareto frontier of candidates and parent sampling from it."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence


class Frontier:
    """For each key (a val example, or an (example, objective) pair), the best score
    seen and the candidates that reach it.

    Keys are opaque strings; the engine uses the example id for the main score and
    ``"<example id>::<objective>"`` for per-objective frontiers.
    """

    __slots__ = ("_best", "_leaders", "version")

    def __init__(self) -> None:
        self._best: dict[str, float] = {}
        self._leaders: dict[str, set[int]] = {}
        self.version = 0

    def update(self, candidate: int, scores: Mapping[str, float]) -> bool:
        """Record `candidate`'s scores; return whether it leads on at least one key."""
        leads = False
        self.version += 1
        for key, score in scores.items():
            best = self._best.get(key)
            if best is None or score > best:
                self._best[key] = score
                self._leaders[key] = {candidate}
                leads = True
            elif score == best:
                self._leaders[key].add(candidate)
                leads = True
        return leads

    @property
    def best_scores(self) -> Mapping[str, float]:
        """Best score per key."""
        return self._best

    def leaders(self, key: str) -> frozenset[int]:
        """Candidates reaching the best score on `key`."""
        return frozenset(self._leaders.get(key, ()))

    def leader_sets(self) -> dict[str, frozenset[int]]:
        """Leaders of every key."""
        return {k: frozenset(v) for k, v in self._leaders.items()}

    def candidates(self) -> set[int]:
        """Every candidate that leads on at least one key."""
        out: set[int] = set()
        for group in self._leaders.values():
            out |= group
        return out


def non_dominated(
    leader_sets: Iterable[frozenset[int]], aggregate: Sequence[float]
) -> list[frozenset[int]]:
    """Drop candidates that are never needed to cover a key.

    A candidate is dominated when every key it leads on is also led by another
    surviving candidate. Candidates are considered for removal from the lowest
    aggregate score up, so when two candidates cover the same keys, the better one
    stays. Returns the leader sets restricted to the survivors.

    Linear in the total size of the leader sets: each key keeps a count of its
    surviving leaders, and a candidate is removable when all its keys count two or more.
    """
    sets = [s for s in leader_sets if s]
    keys_of: dict[int, list[int]] = {}
    alive_count = [len(s) for s in sets]
    for k, group in enumerate(sets):
        for cand in group:
            keys_of.setdefault(cand, []).append(k)
    removed: set[int] = set()
    for cand in sorted(keys_of, key=lambda c: (aggregate[c], c)):
        keys = keys_of[cand]
        if all(alive_count[k] > 1 for k in keys):
            removed.add(cand)
            for k in keys:
                alive_count[k] -= 1
    if not removed:
        return sets
    return [s - removed for s in sets]


def leader_counts(frontier: Frontier, aggregate: Sequence[float]) -> dict[int, int]:
    """How many keys each non-dominated candidate leads on."""
    counts: dict[int, int] = {}
    for group in non_dominated(frontier.leader_sets().values(), aggregate):
        for cand in group:
            counts[cand] = counts.get(cand, 0) + 1
    return counts


def sample_pareto_parent(
    frontier: Frontier,
    aggregate: Sequence[float],
    rng: random.Random,
    counts: Mapping[int, int] | None = None,
) -> int:
    """Sample a candidate among the non-dominated ones, weighted by keys led.

    Pass `counts` (from `leader_counts`) to reuse them while the frontier is unchanged.
    """
    if counts is None:
        counts = leader_counts(frontier, aggregate)
    if not counts:
        return max(range(len(aggregate)), key=lambda c: (aggregate[c], -c))
    ordered = sorted(counts)
    return rng.choices(ordered, weights=[counts[c] for c in ordered], k=1)[0]
