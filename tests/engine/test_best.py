"""engine/best.py: the best candidate, compared where both candidates were scored."""

from __future__ import annotations

from gepakit.engine.best import beats, best_index
from gepakit.engine.budget import Budget
from gepakit.engine.state import EngineState, SearchConfig
from gepakit.types import Candidate, Example, Rollout

FULL = {"v0": 0.0, "v1": 0.0, "v2": 1.0, "v3": 1.0}  # mean 0.5


def mean(scores: dict[str, float]) -> float:
    return sum(scores.values()) / len(scores)


def test_candidates_scored_on_the_same_examples_compare_their_means() -> None:
    better = {"v0": 1.0, "v1": 0.0, "v2": 1.0, "v3": 1.0}
    assert beats(better, FULL, mean(better), mean(FULL))
    assert not beats(FULL, better, mean(FULL), mean(better))
    assert not beats(dict(FULL), FULL, 0.5, 0.5)  # a tie keeps the earlier one


def test_a_candidate_scored_on_a_few_examples_is_compared_on_those() -> None:
    lucky = {"v2": 1.0, "v3": 1.0}  # mean 1.0, but no better than FULL where both ran
    assert not beats(lucky, FULL, mean(lucky), mean(FULL))
    fixes = {"v0": 1.0, "v2": 1.0}  # mean 1.0 and better than FULL on v0
    assert beats(fixes, FULL, mean(fixes), mean(FULL))
    # The other way round: a whole evaluation against a partial best.
    assert beats(FULL, {"v2": 0.0}, mean(FULL), 0.0)
    assert not beats(FULL, {"v2": 1.0, "v0": 1.0}, mean(FULL), 1.0)


def test_candidates_with_no_example_in_common_compare_their_means() -> None:
    assert beats({"v0": 1.0}, {"v1": 0.5}, 1.0, 0.5)
    assert not beats({"v0": 0.2}, {"v1": 0.5}, 0.2, 0.5)


def test_best_index_is_the_earliest_best_as_candidates_join_in_turn() -> None:
    lucky = {"v2": 1.0, "v3": 1.0}
    scores = [dict.fromkeys(FULL, 0.0), FULL, lucky, dict(FULL)]
    assert best_index(scores, [mean(s) for s in scores]) == 1
    # With whole means only, the lucky partial candidate would have won.
    means = [mean(s) for s in scores]
    assert max(range(len(means)), key=lambda i: (means[i], -i)) == 2


def test_the_engine_keeps_the_same_best_as_best_index() -> None:
    val = [Example(id=e, data={}) for e in FULL]
    state = EngineState(Candidate.of({"p": "s"}), val, val, SearchConfig(), Budget(100))
    subsets = [dict.fromkeys(FULL, 0.0), FULL, {"v2": 1.0, "v3": 1.0}, {"v0": 1.0, "v2": 1.0}]
    for i, scores in enumerate(subsets):
        cand = Candidate.of({"p": f"text {i}"})
        rollouts = [
            Rollout(candidate_id=cand.id, example_id=e, split="val", score=s)
            for e, s in scores.items()
        ]
        state.add_candidate(cand, (0,) if i else (), "reflection" if i else "seed", rollouts)
    assert state.best_idx == best_index(state.val_scores, state.aggregate) == 3
