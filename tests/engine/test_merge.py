"""Merge planning, subsample choice, and the merge job's accept/reject rule."""

from __future__ import annotations

import random
from collections.abc import Mapping

from gepakit.engine.budget import Budget
from gepakit.engine.merge import ancestors, merge_subsample, plan_merge
from gepakit.engine.state import EngineState, SearchConfig
from gepakit.engine.steps import Evaluate, merge_job
from gepakit.types import Candidate, Example, Proposal, Rollout

SEED = {"a": "A0", "b": "B0"}
LEFT = {"a": "A1", "b": "B0"}  # changed a
RIGHT = {"a": "A0", "b": "B1"}  # changed b
PARENTS: list[tuple[int, ...]] = [(), (0,), (0,)]


def test_ancestors_follow_every_parent() -> None:
    parents = [(), (0,), (0,), (1, 2), (3,)]
    assert ancestors(4, parents) == {0, 1, 2, 3}
    assert ancestors(0, parents) == set()


def test_plan_merge_takes_each_changed_component() -> None:
    plan = plan_merge(
        [SEED, LEFT, RIGHT], PARENTS, [0.2, 0.5, 0.6], [1, 2], set(), {}, random.Random(0)
    )
    assert plan is not None
    assert (plan.first, plan.second, plan.ancestor) == (1, 2, 0)
    assert dict(plan.texts) == {"a": "A1", "b": "B1"}


def test_both_sides_changed_the_same_component_takes_the_better_side() -> None:
    left = {"a": "A1", "b": "B0", "c": "C1"}
    right = {"a": "A2", "b": "B2", "c": "C0"}
    seed = {"a": "A0", "b": "B0", "c": "C0"}
    plan = plan_merge(
        [seed, left, right], PARENTS, [0.1, 0.3, 0.9], [1, 2], set(), {}, random.Random(0)
    )
    assert plan is not None
    assert dict(plan.texts) == {"a": "A2", "b": "B2", "c": "C1"}


def test_a_conflict_falls_back_to_the_other_side_when_the_better_one_copies_a_parent() -> None:
    # Left changed both components, right changed only `a`. Taking the better (left)
    # side's `a` would copy left; the other choice is a real mix: right's a, left's b.
    left = {"a": "A1", "b": "B1"}
    right = {"a": "A2", "b": "B0"}
    plan = plan_merge(
        [SEED, left, right], PARENTS, [0.1, 0.9, 0.3], [1, 2], set(), {}, random.Random(0)
    )
    assert plan is not None
    assert dict(plan.texts) == {"a": "A2", "b": "B1"}


def test_a_merge_that_copies_a_known_candidate_tries_the_other_side() -> None:
    left = {"a": "A1", "b": "B0", "c": "C1"}
    right = {"a": "A2", "b": "B2", "c": "C0"}
    seed = {"a": "A0", "b": "B0", "c": "C0"}
    known = {Candidate.of({"a": "A2", "b": "B2", "c": "C1"}).id: 3}
    plan = plan_merge(
        [seed, left, right],
        PARENTS,
        [0.1, 0.3, 0.9],
        [1, 2],
        set(),
        known,
        random.Random(0),
        candidate_id=lambda texts: Candidate.of(texts).id,
    )
    assert plan is not None
    assert dict(plan.texts) == {"a": "A1", "b": "B2", "c": "C1"}


def test_no_merge_without_a_usable_pair() -> None:
    rng = random.Random(0)
    cands = [SEED, LEFT, RIGHT]
    # Too small a pool.
    assert plan_merge(cands, PARENTS, [0, 0.5, 0.6], [1], set(), {}, rng) is None
    # One descends from the other.
    assert plan_merge([SEED, LEFT], [(), (0,)], [0.1, 0.5], [0, 1], set(), {}, rng) is None
    # The only common ancestor is better than one of them.
    assert plan_merge(cands, PARENTS, [0.7, 0.5, 0.6], [1, 2], set(), {}, rng) is None
    # Both changed the same single component: the merge would copy one side.
    same = [SEED, {"a": "A1", "b": "B0"}, {"a": "A2", "b": "B0"}]
    assert plan_merge(same, PARENTS, [0, 0.5, 0.6], [1, 2], set(), {}, rng) is None


def test_a_tried_triple_or_a_known_result_is_not_planned_again() -> None:
    tried: set[tuple[int, int, int]] = set()
    args = ([SEED, LEFT, RIGHT], PARENTS, [0.2, 0.5, 0.6], [1, 2])
    assert plan_merge(*args, tried, {}, random.Random(0)) is not None
    assert tried == {(1, 2, 0)}
    assert plan_merge(*args, tried, {}, random.Random(0)) is None
    merged_id = Candidate.of({"a": "A1", "b": "B1"}).id
    known = {merged_id: 7}
    plan = plan_merge(
        *args,
        set(),
        known,
        random.Random(0),
        candidate_id=lambda texts: Candidate.of(texts).id,
    )
    assert plan is None


def test_subsample_alternates_between_where_each_parent_wins() -> None:
    a = {"w1": 1.0, "w2": 1.0, "w3": 1.0, "l1": 0.0, "t1": 0.5, "t2": 0.5}
    b = {"w1": 0.0, "w2": 0.0, "w3": 0.0, "l1": 1.0, "t1": 0.5, "t2": 0.5}
    chosen = merge_subsample(a, b, 3, random.Random(0))
    assert len(chosen) == 3
    assert "l1" in chosen  # b's only win is always included
    assert sum(c.startswith("w") for c in chosen) == 1
    assert sum(c.startswith("t") for c in chosen) == 1
    everything = merge_subsample(a, b, 100, random.Random(0))
    assert sorted(everything) == sorted(a)


# -- the merge job ---------------------------------------------------------------

VAL = ["v0", "v1", "v2", "v3"]


def rollouts(cand: Candidate, scores: Mapping[str, float]) -> list[Rollout]:
    return [
        Rollout(candidate_id=cand.id, example_id=e, split="val", score=s) for e, s in scores.items()
    ]


def state_with_two_lineages() -> EngineState:
    val = [Example(id=e, data={"id": e}) for e in VAL]
    cfg = SearchConfig(merge_subsample_size=2, seed=0)
    state = EngineState(Candidate.of(SEED), val, val, cfg, Budget(100))
    left_scores = {"v0": 1.0, "v1": 1.0, "v2": 0.0, "v3": 0.0}
    right_scores = {"v0": 0.0, "v1": 0.0, "v2": 1.0, "v3": 1.0}
    for texts, parents, scores in [
        (SEED, (), dict.fromkeys(VAL, 0.0)),
        (LEFT, (0,), left_scores),
        (RIGHT, (0,), right_scores),
    ]:
        cand = Candidate.of(texts)
        state.add_candidate(
            cand, parents, "seed" if not parents else "reflection", rollouts(cand, scores)
        )
    return state


def drive_merge(state: EngineState, sub_score: float, full_score: float) -> Proposal:
    state.merges_due = 1  # one chance, due after an accepted child
    job = merge_job(state)
    assert job is not None
    assert (state.merges_due, state.merges_running) == (0, 1)  # held while it runs
    req = next(job)
    assert isinstance(req, Evaluate) and req.split == "val"
    assert dict(req.candidate.components) == {"a": "A1", "b": "B1"}
    assert len(req.example_ids) == 2
    sub = dict.fromkeys(req.example_ids, sub_score)
    try:
        req = job.send(rollouts(req.candidate, sub))
        assert isinstance(req, Evaluate) and req.example_ids == tuple(VAL)
        job.send(rollouts(req.candidate, dict.fromkeys(VAL, full_score)))
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the merge job did not finish")


def test_merge_is_accepted_when_it_matches_the_better_parent_on_the_subsample() -> None:
    state = state_with_two_lineages()
    proposal = drive_merge(state, sub_score=1.0, full_score=1.0)
    assert proposal.kind == "merge" and proposal.decision == "accepted"
    assert state.parents[-1] == (1, 2)
    assert state.origins[-1] == "merge"
    assert state.aggregate[-1] == 1.0
    assert proposal.parent_ids == (state.candidates[1].id, state.candidates[2].id)
    assert (state.merges_due, state.merges_running, state.merges_made) == (0, 0, 1)


def test_merge_is_rejected_below_the_better_parent_on_the_subsample() -> None:
    state = state_with_two_lineages()
    proposal = drive_merge(state, sub_score=0.0, full_score=1.0)
    assert proposal.decision == "rejected"
    assert "below the better parent" in proposal.reason
    assert len(state.candidates) == 3
    # The chance is given back (as gepa counts merges: those accepted), and the next
    # merge search waits for a new candidate.
    assert (state.merges_due, state.merges_running, state.merges_made) == (1, 0, 0)
    assert state.merge_blocked_at == 3


def test_no_merge_job_without_a_pair() -> None:
    val = [Example(id="v0", data={})]
    state = EngineState(Candidate.of(SEED), val, val, SearchConfig(), Budget(10))
    cand = Candidate.of(SEED)
    state.add_candidate(cand, (), "seed", rollouts(cand, {"v0": 0.0}))
    assert merge_job(state) is None
