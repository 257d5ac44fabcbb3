"""Frontier bookkeeping, domination pruning and weighted parent sampling."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from gepakit.engine.pareto import (
    Frontier,
    leader_counts,
    non_dominated,
    sample_pareto_parent,
)

KEYS = ["a", "b", "c", "d"]
# Scores on a coarse grid so ties (shared leadership) happen often.
score = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])
score_table = st.lists(
    st.dictionaries(st.sampled_from(KEYS), score, min_size=1), min_size=1, max_size=8
)


def build(table: list[dict[str, float]]) -> Frontier:
    frontier = Frontier()
    for index, scores in enumerate(table):
        frontier.update(index, scores)
    return frontier


def aggregate_of(table: list[dict[str, float]]) -> list[float]:
    return [sum(s.values()) / len(s) for s in table]


@settings(max_examples=150, deadline=None)
@given(score_table)
def test_best_is_the_max_and_leaders_are_exactly_those_reaching_it(
    table: list[dict[str, float]],
) -> None:
    frontier = build(table)
    keys = {k for scores in table for k in scores}
    assert set(frontier.best_scores) == keys
    for key in keys:
        best = max(s[key] for s in table if key in s)
        assert frontier.best_scores[key] == best
        reaching = {i for i, s in enumerate(table) if s.get(key) == best}
        assert frontier.leaders(key) == reaching
    assert frontier.candidates() == set().union(*frontier.leader_sets().values())


@settings(max_examples=150, deadline=None)
@given(score_table)
def test_non_dominated_keeps_a_cover_of_every_key(table: list[dict[str, float]]) -> None:
    frontier = build(table)
    sets = list(frontier.leader_sets().values())
    pruned = non_dominated(sets, aggregate_of(table))
    assert len(pruned) == len(sets)
    for before, after in zip(sets, pruned, strict=True):
        assert after, "every key keeps at least one leader"
        assert after <= before
    survivors = set().union(*pruned)
    # Each survivor is needed: dropping it would leave some key uncovered.
    for cand in survivors:
        assert any(s == {cand} for s in pruned)


@settings(max_examples=100, deadline=None)
@given(score_table, st.integers(0, 2**32 - 1))
def test_sampled_parent_is_a_non_dominated_leader(table: list[dict[str, float]], seed: int) -> None:
    frontier = build(table)
    aggregate = aggregate_of(table)
    counts = leader_counts(frontier, aggregate)
    parent = sample_pareto_parent(frontier, aggregate, random.Random(seed))
    assert parent in counts
    pruned = non_dominated(frontier.leader_sets().values(), aggregate)
    assert counts == {c: sum(c in s for s in pruned) for c in set().union(*pruned)}


def test_update_reports_whether_the_candidate_leads_somewhere() -> None:
    frontier = Frontier()
    assert frontier.update(0, {"a": 0.5, "b": 0.5})
    assert frontier.update(1, {"a": 1.0, "b": 0.0})
    assert not frontier.update(2, {"a": 0.0, "b": 0.0})
    assert frontier.update(3, {"a": 0.0, "b": 0.5})  # ties the best on b
    assert frontier.leaders("b") == {0, 3}
    assert frontier.version == 4


def test_equal_cover_keeps_the_candidate_with_the_higher_aggregate() -> None:
    # 0 and 1 lead on the same keys; 1 has the better aggregate, so 0 is pruned.
    pruned = non_dominated([frozenset({0, 1}), frozenset({0, 1})], [0.4, 0.6])
    assert pruned == [frozenset({1}), frozenset({1})]


def test_sampling_is_weighted_by_keys_led() -> None:
    frontier = Frontier()
    frontier.update(0, {"a": 1.0, "b": 1.0, "c": 1.0, "d": 0.0})
    frontier.update(1, {"a": 0.0, "b": 0.0, "c": 0.0, "d": 1.0})
    aggregate = [0.75, 0.25]
    assert leader_counts(frontier, aggregate) == {0: 3, 1: 1}
    rng = random.Random(0)
    picks = Counter(sample_pareto_parent(frontier, aggregate, rng) for _ in range(4000))
    assert 0.70 < picks[0] / 4000 < 0.80


def test_empty_frontier_falls_back_to_the_best_aggregate() -> None:
    assert sample_pareto_parent(Frontier(), [0.2, 0.9, 0.9], random.Random(0)) == 1


def _reference_non_dominated(
    leader_sets: list[frozenset[int]], aggregate: list[float]
) -> list[frozenset[int]]:
    """The quadratic definition: drop, lowest aggregate first, a candidate every key of
    which another surviving candidate also leads."""
    sets = [s for s in leader_sets if s]
    alive: set[int] = set().union(*sets) if sets else set()
    for cand in sorted(alive, key=lambda c: (aggregate[c], c)):
        if all(len(s & alive) > 1 for s in sets if cand in s):
            alive.discard(cand)
    return [s & alive for s in sets]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.frozensets(st.integers(0, 7), max_size=5), max_size=12),
    st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]), min_size=8, max_size=8),
)
def test_linear_non_dominated_matches_the_definition(
    sets: list[frozenset[int]], aggregate: list[float]
) -> None:
    assert non_dominated(sets, aggregate) == _reference_non_dominated(sets, aggregate)
