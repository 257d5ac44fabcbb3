"""Parent and component selectors."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from gepakit.engine.pareto import Frontier
from gepakit.engine.selection import (
    AllComponents,
    CallableComponents,
    CallableSelector,
    ComponentView,
    CurrentBestSelector,
    EpsilonGreedySelector,
    ParetoSelector,
    RoundRobinComponents,
    SelectionView,
)


def view(table: list[dict[str, float]]) -> SelectionView:
    frontier = Frontier()
    for i, scores in enumerate(table):
        frontier.update(i, scores)
    return SelectionView(
        candidates=[{"p": f"text {i}"} for i in range(len(table))],
        aggregate_scores=[sum(s.values()) / len(s) for s in table],
        frontier=frontier,
    )


TABLE = [
    {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0},  # dominated seed
    {"a": 1.0, "b": 1.0, "c": 1.0, "d": 0.0},  # leads on 3 keys
    {"a": 0.0, "b": 0.0, "c": 0.0, "d": 1.0},  # leads on 1 key
]


def test_pareto_samples_non_dominated_candidates_weighted_by_keys_led() -> None:
    selector, rng, v = ParetoSelector(), random.Random(1), view(TABLE)
    picks = Counter(selector.select(v, rng) for _ in range(2000))
    assert set(picks) == {1, 2}
    assert 0.68 < picks[1] / 2000 < 0.82


def test_pareto_recomputes_when_the_frontier_changes() -> None:
    selector, rng = ParetoSelector(), random.Random(0)
    v = view(TABLE[:1])
    assert selector.select(v, rng) == 0
    v.frontier.update(1, {"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0})
    v2 = SelectionView(candidates=[{}, {}], aggregate_scores=[0.0, 1.0], frontier=v.frontier)
    assert {selector.select(v2, rng) for _ in range(20)} == {1}


def test_current_best_takes_the_earliest_of_the_highest() -> None:
    v = SelectionView(
        candidates=[{}] * 4, aggregate_scores=[0.1, 0.7, 0.7, 0.2], frontier=Frontier()
    )
    assert CurrentBestSelector().select(v, random.Random(0)) == 1


def test_epsilon_greedy_explores_with_probability_epsilon() -> None:
    v = SelectionView(
        candidates=[{}] * 4, aggregate_scores=[0.1, 0.9, 0.2, 0.3], frontier=Frontier()
    )
    rng = random.Random(3)
    assert {EpsilonGreedySelector(0.0).select(v, rng) for _ in range(50)} == {1}
    picks = Counter(EpsilonGreedySelector(1.0).select(v, rng) for _ in range(400))
    assert set(picks) == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="epsilon"):
        EpsilonGreedySelector(1.5)


def test_callable_selector_gets_texts_scores_and_rng() -> None:
    seen: list[object] = []

    def pick(candidates: object, scores: list[float], rng: random.Random) -> int:
        seen.append((candidates, list(scores)))
        return len(scores) - 1

    v = view(TABLE)
    assert CallableSelector(pick).select(v, random.Random(0)) == 2
    assert seen[0] == (v.candidates, v.aggregate_scores)


@pytest.mark.parametrize("bad", [3, -1, "1", None, 1.0])
def test_callable_selector_rejects_a_bad_index(bad: Any) -> None:
    selector = CallableSelector(lambda c, s, r: bad)
    with pytest.raises(ValueError, match="candidate selector returned"):
        selector.select(view(TABLE), random.Random(0))


def component_view(index: int, names: tuple[str, ...] = ("x", "y", "z")) -> ComponentView:
    return ComponentView(candidate_index=index, candidate={n: n for n in names}, rollouts=[])


def test_round_robin_cycles_per_candidate() -> None:
    selector, state = RoundRobinComponents(), {}
    firsts = [selector.select(component_view(0), state) for _ in range(4)]
    assert firsts == [["x"], ["y"], ["z"], ["x"]]
    # Candidate 1 has its own pointer, starting at the first component.
    assert selector.select(component_view(1), state) == ["x"]
    assert selector.select(component_view(0), state) == ["y"]


def test_all_components() -> None:
    assert AllComponents().select(component_view(0), {}) == ["x", "y", "z"]


def test_callable_components_and_bad_returns() -> None:
    selector = CallableComponents(lambda cand, rollouts: [n for n in cand if n != "y"])
    assert selector.select(component_view(0), {}) == ["x", "z"]
    for bad in ([], ["nope"], ["x", "nope"]):
        with pytest.raises(ValueError, match="component selector returned"):
            CallableComponents(lambda c, r, bad=bad: bad).select(component_view(0), {})


def test_round_robin_cycles_along_a_lineage_not_per_new_candidate() -> None:
    # A child starts where its parent's pointer is (gepa's rule): a chain of accepted
    # children updates a, b, a, b ... instead of component a at each new candidate.
    import itertools

    from gepakit import optimize
    from gepakit.testing import ToyTask

    task = ToyTask(num_rules=12, components=("a", "b"), needs_per_example=2)
    result = optimize(
        task.seed_candidate,
        task.trainset,
        task.valset,
        evaluator=task.evaluate,
        reflection_lm=task.reflect,
        max_metric_calls=200,
        candidate_selection_strategy="current_best",
        use_merge=False,
        seed=0,
    )
    chain = [p.components for p in result.proposals if p.decision == "accepted"]
    assert len(chain) >= 4
    firsts = [
        p.components
        for p in result.proposals
        if p.kind == "reflection" and p.decision in ("accepted", "rejected")
    ]
    # Along the chain the updated component alternates.
    assert all(x != y for x, y in itertools.pairwise(chain)), chain
    assert {("a",), ("b",)} <= set(firsts)
