"""The units of work of a run, written as generators.

A job yields requests (`Evaluate`, `Propose`) and receives their results; the
driver in `loop.py` fulfils them, possibly concurrently with other jobs. All
state changes happen inside the generator between yields, on the engine thread,
in the order results are delivered, which makes a run replayable from the order
of its deliveries.
"""

from __future__ import annotations

import random
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gepakit.engine.merge import merge_subsample, plan_merge
from gepakit.engine.pareto import leader_counts
from gepakit.engine.rebase import kept_share, newer_descendant, rebased_texts
from gepakit.engine.reflection import (
    ProposerReply,
    ReflectionRequest,
    build_reflective_dataset,
)
from gepakit.engine.selection import ComponentView
from gepakit.engine.state import EngineState
from gepakit.engine.valpolicy import ValView
from gepakit.types import Candidate, Proposal, Rollout, Split, content_hash


@dataclass(frozen=True, slots=True)
class Evaluate:
    """Roll out `candidate` on these examples. Result: rollouts in order, or None
    when the budget cannot cover the uncached ones (nothing is run then)."""

    candidate: Candidate
    example_ids: tuple[str, ...]
    split: Split
    partial: bool = False
    """When the budget cannot cover every uncached example, evaluate as many as it
    can (chosen by a seeded shuffle) instead of none; the result then lists only the
    evaluated examples, in request order."""


@dataclass(frozen=True, slots=True)
class Propose:
    """Ask the proposer for new texts. Result: a `ProposerReply`, or an Exception."""

    request: ReflectionRequest


@dataclass(frozen=True, slots=True)
class Await:
    """Wait until a candidate whose val evaluation is in flight is settled. Result: its
    pool index, or None when it was not kept. Costs nothing."""

    candidate_id: str


Request = Evaluate | Propose | Await
Job = Generator[Request, Any, Proposal | None]


def seed_job(state: EngineState) -> Job:
    """Evaluate the seed candidate on the full valset."""
    seed = state.seed_candidate
    discovered_at = state.budget.spent
    rollouts = yield Evaluate(seed, tuple(state.val_ids), "val")
    if rollouts is None:
        state.stop_reason = "budget too small to evaluate the seed candidate on the valset"
        return None
    state.add_candidate(seed, (), "seed", rollouts, discovered_at=discovered_at)
    state.seen_children.add(seed.id)
    failed = [r for r in rollouts if r.error]
    if failed and len(failed) == len(rollouts):
        state.seed_error = f"example {failed[0].example_id!r}: {failed[0].error}"
        state.stop_reason = (
            "the evaluator failed on every val example with the seed candidate "
            f"(first error on {state.seed_error})"
        )
    return None


def _proposal(state: EngineState, **fields: Any) -> Proposal:
    index = state.next_proposal_index
    state.next_proposal_index += 1
    fields.setdefault("metric_calls_at", state.budget.spent)
    return Proposal(index=index, **fields)


def _scores(rollouts: Sequence[Rollout]) -> tuple[float, ...]:
    return tuple(r.score for r in rollouts)


def reflective_job(state: EngineState, job_id: int = -1) -> Job:
    """Select a parent and components, reflect on a minibatch, test the child.

    `state.job_need[job_id]` tracks the metric calls the job is likely to ask for
    after its current request (the driver keeps them free when admitting other jobs):
    its child's minibatch, and the valset once the child passed its minibatch test.
    Before that, `state.job_maybe[job_id]` holds the valset the job asks for if its
    child passes, and the driver keeps that times the acceptance rate free: most
    children fail the test, and keeping a whole valset free for each proposal in
    flight would run the last `K x (valset + minibatch)` calls of a run one proposal
    at a time. A child that passes when the rest of the budget went to other
    proposals is validated on as much of the valset as is left (`_validate`), as a
    serial run's last child is.
    """
    cfg = state.config
    mb, v = state.sampler.size, len(state.val_ids)
    pool_at_start = len(state.candidates)
    speculative = _speculative_parent(state)
    if speculative is None:
        parent_idx: int | None = cfg.candidate_selector.select(state.selection_view(), state.rng)
        parent = state.candidates[parent_idx]
        pointer_key = parent_idx
    else:
        # Pipelining: build on a child that passed its minibatch test while its val
        # evaluation is still running, as a serial run would build on it next.
        parent, grandparent = speculative
        parent_idx = None
        pointer_key = -1 - state.next_job_id
        state.component_pointers[pointer_key] = state.component_pointers.get(grandparent, 0)
    batch = state.sampler.next_batch(state.rng)
    base = {"kind": "reflection", "parent_ids": (parent.id,), "minibatch_ids": batch}

    state.job_need[job_id] = mb
    state.job_maybe[job_id] = v
    parent_rollouts = yield Evaluate(parent, batch, "train")
    if parent_rollouts is None:
        return _proposal(
            state,
            **base,
            child_id=None,
            components=(),
            decision="skipped",
            reason="budget exhausted",
        )
    parent_scores = _scores(parent_rollouts)
    base["parent_scores"] = parent_scores
    if cfg.skip_perfect_score and all(s >= cfg.perfect_score for s in parent_scores):
        return _proposal(
            state,
            **base,
            child_id=None,
            components=(),
            decision="skipped",
            reason="parent already scores perfectly on the minibatch",
        )

    view = ComponentView(
        candidate_index=pointer_key, candidate=parent.components, rollouts=parent_rollouts
    )
    components = tuple(cfg.component_selector.select(view, state.component_pointers))
    if pointer_key < 0:
        state.component_pointers.pop(pointer_key, None)
    examples = [state.train[i].data for i in batch]
    dataset = build_reflective_dataset(parent_rollouts, examples, components)
    rejected: dict[str, tuple[str, ...]] = {}
    if parent_idx is not None:
        rejected = {c: tuple(state.rejected.get((parent_idx, c), ())) for c in components}
    request = ReflectionRequest(
        candidate=parent.components,
        reflective_dataset=dataset,
        components=components,
        rejected=rejected,
        known={
            c: frozenset(cand.components[c].strip() for cand in state.candidates)
            for c in components
        },
        rollouts=tuple(parent_rollouts),
    )
    state.reflection_calls += 1
    reply = yield Propose(request)
    base["components"] = components
    if isinstance(reply, BaseException):
        return _proposal(
            state,
            **base,
            child_id=None,
            decision="failed",
            reason=f"proposer raised {type(reply).__name__}: {reply}",
        )
    assert isinstance(reply, ProposerReply)
    base.update(
        prompts=dict(reply.prompts), replies=dict(reply.replies), new_texts=dict(reply.texts)
    )
    if not reply.texts:
        why = "; ".join(f"{k}: {v}" for k, v in reply.reasons.items()) or "no new text"
        return _proposal(
            state, **base, child_id=None, decision="rejected", reason=f"no usable text ({why})"
        )

    child = parent.replace_texts(reply.texts)
    if cfg.max_concurrent_proposals > 1:  # how the proposer edits: see `Driver._live_k`
        rewrote = any(kept_share(parent.components[c], t) < 0.5 for c, t in reply.texts.items())
        state.edits[1 if rewrote else 0] += 1
    if child.id in state.index_of:
        _record_rejected(state, parent_idx, reply.texts)
        return _proposal(
            state,
            **base,
            child_id=child.id,
            decision="rejected",
            reason=f"same texts as candidate {state.index_of[child.id]}",
        )
    if cfg.max_concurrent_proposals > 1 and parent_idx is not None:
        target = _superseded_by(state, parent_idx, child, pool_at_start)
        if target is not None:
            return _proposal(
                state,
                **base,
                child_id=child.id,
                decision="rejected",
                reason=f"not tested: candidate {target}, a better descendant of its parent "
                "added meanwhile, supersedes it and the edit does not carry over to it",
            )
    state.job_need[job_id] = 0
    child_rollouts = yield Evaluate(child, batch, "train")
    if child_rollouts is None:
        return _proposal(
            state,
            **base,
            child_id=child.id,
            decision="skipped",
            reason="budget exhausted before testing the child",
        )
    child_scores = _scores(child_rollouts)
    base["child_scores"] = child_scores
    accept, why = cfg.acceptance.decide(parent_scores, child_scores)
    if not accept:
        _record_rejected(state, parent_idx, reply.texts)
        return _proposal(state, **base, child_id=child.id, decision="rejected", reason=why)
    state.job_need[job_id] = v
    state.job_maybe.pop(job_id, None)
    commit = _commit(
        state, job_id, base, child, parent, parent_idx, why, reply.texts, pool_at_start
    )
    if cfg.max_concurrent_proposals == 1:
        return (yield from commit)
    # Several in flight: children that passed their minibatch test are rebased and
    # validated one at a time, each after the ones that passed before it, so a stale
    # child is rebased onto every child accepted meanwhile (a serial run's order).
    while state.commit_turn is not None:
        yield Await(state.commit_turn)
    state.commit_turn = child.id
    try:
        return (yield from commit)
    finally:
        state.commit_turn = None


def _commit(
    state: EngineState,
    job_id: int,
    base: dict[str, Any],
    child: Candidate,
    parent: Candidate,
    parent_idx: int | None,
    why: str,
    texts: Mapping[str, str],
    pool_at_start: int,
) -> Generator[Request, Any, Proposal]:
    """Validate a child that passed its minibatch test and add it to the pool.

    With several proposals in flight, first wait for a parent still in validation,
    and rebase the child onto a better descendant of its parent added meanwhile; a
    child whose edit does not carry over to that descendant (or loses there) is
    rejected instead of validated. Measured on the keyword task with proposals that
    rewrite the whole text (15% useful, K=4, 20 seeds): validating such children as
    siblings cost 11% of the best val score; rejecting them, 4% (within one SE).
    """
    cfg = state.config
    batch: tuple[str, ...] = base["minibatch_ids"]
    if child.id in state.index_of:  # a concurrent proposal found the same texts first
        return _proposal(
            state,
            **base,
            child_id=child.id,
            decision="rejected",
            reason=f"{why}, but candidate {state.index_of[child.id]} (added meanwhile) has "
            "the same texts",
        )
    if parent_idx is None:
        settled = yield Await(parent.id)
        if settled is None:
            return _proposal(
                state,
                **base,
                child_id=child.id,
                decision="rejected",
                reason=f"{why}, but its parent (a child still in validation) was not kept",
            )
        parent_idx = int(settled)
    if cfg.max_concurrent_proposals > 1:
        rebased = yield from _rebase(state, parent_idx, child, batch, pool_at_start)
        if rebased is not None:
            child, parent_idx, rebased_scores, target_scores = rebased
            why = (
                f"{why}; rebased onto candidate {parent_idx} (added meanwhile), where it "
                f"scores {sum(rebased_scores):g} against {sum(target_scores):g}"
            )
            base.update(
                parent_ids=(state.candidates[parent_idx].id,),
                parent_scores=target_scores,
                child_scores=rebased_scores,
                new_texts={k: child.components[k] for k in texts},
            )
            state.seen_children.add(child.id)
        elif (
            target := newer_descendant(parent_idx, pool_at_start, state.parents, state.aggregate)
        ) is not None:
            # A sibling of a better candidate in the making: a serial run would have
            # built this proposal on that candidate. Its valset pass is saved.
            return _proposal(
                state,
                **base,
                child_id=child.id,
                decision="rejected",
                reason=f"{why}, but candidate {target}, a better descendant of its parent "
                "added meanwhile, supersedes it (the edit does not carry over to it)",
            )
    discovered_at = state.budget.spent
    state.in_validation[child.id] = (child, parent_idx)
    val_rollouts = yield from _validate(state, child, state.val_scores[parent_idx], job_id)
    state.in_validation.pop(child.id, None)
    if val_rollouts is None:
        return _proposal(
            state,
            **base,
            child_id=child.id,
            decision="skipped",
            reason=f"{why}, but the budget cannot cover any val evaluation",
        )
    if child.id in state.index_of:  # a concurrent proposal found the same texts first
        return _proposal(
            state,
            **base,
            child_id=child.id,
            decision="rejected",
            reason=f"same texts as candidate {state.index_of[child.id]}",
        )
    index = state.add_candidate(
        child, (parent_idx,), "reflection", val_rollouts, discovered_at=discovered_at
    )
    chances = state.merges_made + state.merges_running + state.merges_due
    if cfg.use_merge and chances < cfg.max_merge_invocations:
        state.merges_due += 1
    return _proposal(
        state,
        **base,
        child_id=child.id,
        decision="accepted",
        reason=f"{why}; candidate {index}, val score {state.aggregate[index]:.4g}"
        + _coverage(state, index),
    )


def _rebase(
    state: EngineState, parent_idx: int, child: Candidate, batch: tuple[str, ...], since: int
) -> Generator[Request, Any, tuple[Candidate, int, tuple[float, ...], tuple[float, ...]] | None]:
    """Test the child's edit on a better descendant of its parent added since the
    proposal started (see `gepakit.engine.rebase`). Returns the rebased child, its new
    parent and both minibatch scores when it beats that descendant; else None.

    Only with several proposals in flight: a serial run never sees a candidate added
    while a proposal runs.
    """
    target, texts = _rebase_onto(state, parent_idx, child, since)
    if target is None or texts is None:
        return None
    rebased = state.candidates[target].replace_texts(texts)
    if rebased.id in state.index_of or rebased.id in state.seen_children:
        return None
    target_rollouts = yield Evaluate(state.candidates[target], batch, "train")
    if target_rollouts is None:
        return None
    rebased_rollouts = yield Evaluate(rebased, batch, "train")
    if rebased_rollouts is None:
        return None
    target_scores, rebased_scores = _scores(target_rollouts), _scores(rebased_rollouts)
    accept, _ = state.config.acceptance.decide(target_scores, rebased_scores)
    if not accept:
        return None
    return rebased, target, rebased_scores, target_scores


def _rebase_onto(
    state: EngineState, parent_idx: int, child: Candidate, since: int
) -> tuple[int | None, dict[str, str] | None]:
    """The better descendant of the parent added since the proposal started (None if
    there is none), and the child's texts rebased onto it (None where the edit does not
    apply there, or changes nothing)."""
    target = newer_descendant(parent_idx, since, state.parents, state.aggregate)
    if target is None:
        return None, None
    parent, other = state.candidates[parent_idx], state.candidates[target]
    return target, rebased_texts(parent.components, child.components, other.components)


def _superseded_by(state: EngineState, parent_idx: int, child: Candidate, since: int) -> int | None:
    """The better descendant that supersedes a stale child whose edit does not apply to
    it. Such a child would be rejected after its minibatch test (`_commit`), so it is
    rejected untested: no metric call."""
    target, texts = _rebase_onto(state, parent_idx, child, since)
    return target if texts is None else None


def _coverage(state: EngineState, index: int) -> str:
    n, v = len(state.val_scores[index]), len(state.val_ids)
    return "" if n == v else f" on {n} of {v} val examples"


def _validate(
    state: EngineState, child: Candidate, reference: Mapping[str, float], job_id: int
) -> Generator[Request, Any, list[Rollout] | None]:
    """Evaluate `child` on the val ids its policy asks for, as far as the budget goes.

    Returns the rollouts in valset order, or None when not one example could be run.
    """
    got: dict[str, Rollout] = {}
    order = {eid: k for k, eid in enumerate(state.val_ids)}
    seed = f"{state.config.seed}:{child.id}"
    state.job_need[job_id] = 0
    while True:
        view = ValView(
            val_ids=state.val_ids,
            evaluated={eid: r.score for eid, r in got.items()},
            parent_scores=reference,
            rng=random.Random(seed),
        )
        ids = [i for i in state.config.val_policy.next_ids(view) if i in order and i not in got]
        ids = sorted(set(ids), key=order.__getitem__)
        if not ids:
            break
        rollouts = yield Evaluate(child, tuple(ids), "val", partial=True)
        if not rollouts:
            break
        for r in rollouts:
            got[r.example_id] = r
        if len(rollouts) < len(ids):  # the budget ran out
            break
    if not got:
        return None
    return sorted(got.values(), key=lambda r: order[r.example_id])


def _record_rejected(state: EngineState, parent_idx: int | None, texts: Any) -> None:
    if parent_idx is not None:
        state.record_rejected(parent_idx, texts)


def _speculative_parent(state: EngineState) -> tuple[Candidate, int] | None:
    """The newest child in validation that no other proposal builds on yet, if any.

    Only with several proposals in flight; a serial run never has one.
    """
    if state.config.max_concurrent_proposals < 2:
        return None
    for child_id in reversed(list(state.in_validation)):
        if child_id not in state.speculated:
            state.speculated.add(child_id)
            child, parent_idx = state.in_validation[child_id]
            return child, parent_idx
    return None


def merge_job(state: EngineState, job_id: int = -1) -> Job | None:
    """A merge attempt, or None when no pair of candidates is worth merging now.

    Candidates come from the non-dominated part of the frontier; see `plan_merge`.
    The attempt takes one of the merge chances due (`state.merges_due`) and settles
    it when it ends (`_merge_chance`).
    """
    cfg = state.config
    pool = sorted(leader_counts(state.frontier, state.aggregate))
    plan = plan_merge(
        [c.components for c in state.candidates],
        state.parents,
        state.aggregate,
        pool,
        state.merge_triples,
        state.index_of,
        state.rng,
        candidate_id=lambda texts: content_hash(dict(sorted(texts.items()))),
        val_scores=state.val_scores,
        overlap_floor=min(cfg.merge_val_overlap_floor, len(state.val_ids)),
    )
    if plan is None:
        return None
    state.merges_due -= 1  # the merge holds the chance while it runs
    state.merges_running += 1
    return _merge_chance(
        state,
        _merge_steps(
            state,
            plan.first,
            plan.second,
            Candidate(components=plan.texts),
            cfg.merge_subsample_size,
            job_id,
        ),
    )


def _merge_chance(state: EngineState, steps: Job) -> Job:
    """Run a merge's steps and settle the chance it holds: a merge kept spends it; one
    that fails its test gives it back, and the next merge search waits for a new
    candidate (as gepa counts `max_merge_invocations`: merges accepted)."""
    proposal = yield from steps
    state.merges_running -= 1
    decision = proposal.decision if proposal is not None else None
    if decision == "accepted":
        state.merges_made += 1
    elif decision == "rejected":
        state.merges_due += 1
        state.merge_blocked_at = len(state.candidates)
    return proposal


def _merge_steps(
    state: EngineState, i: int, j: int, child: Candidate, size: int, job_id: int
) -> Job:
    a, b = state.candidates[i], state.candidates[j]
    sub = tuple(merge_subsample(state.val_scores[i], state.val_scores[j], size, state.rng))
    base = {
        "kind": "merge",
        "parent_ids": (a.id, b.id),
        "child_id": child.id,
        "components": tuple(sorted(child.components)),
        "minibatch_ids": sub,
        "new_texts": dict(child.components),
    }
    state.job_need[job_id] = len(state.val_ids)
    sub_rollouts = yield Evaluate(child, sub, "val")
    if sub_rollouts is None:
        return _proposal(state, **base, decision="skipped", reason="budget exhausted")
    sum_a = sum(state.val_scores[i][e] for e in sub)
    sum_b = sum(state.val_scores[j][e] for e in sub)
    child_sum = sum(r.score for r in sub_rollouts)
    base.update(parent_scores=(sum_a, sum_b), child_scores=_scores(sub_rollouts))
    if child_sum < max(sum_a, sum_b):
        return _proposal(
            state,
            **base,
            decision="rejected",
            reason=f"merge scored {child_sum:g} on {len(sub)} val examples, "
            f"below the better parent's {max(sum_a, sum_b):g}",
        )
    discovered_at = state.budget.spent
    better = i if state.aggregate[i] >= state.aggregate[j] else j
    val_rollouts = yield from _validate(state, child, state.val_scores[better], job_id)
    if val_rollouts is None:
        return _proposal(
            state,
            **base,
            decision="skipped",
            reason="budget cannot cover any val evaluation of the merge",
        )
    if child.id in state.index_of:
        return _proposal(
            state,
            **base,
            decision="rejected",
            reason=f"same texts as candidate {state.index_of[child.id]}",
        )
    index = state.add_candidate(child, (i, j), "merge", val_rollouts, discovered_at=discovered_at)
    return _proposal(
        state,
        **base,
        decision="accepted",
        reason=f"merge kept: candidate {index}, val score {state.aggregate[index]:.4g}"
        + _coverage(state, index),
    )
