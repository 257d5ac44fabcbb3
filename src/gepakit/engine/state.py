"""Engine configuration and the in-memory state of a run."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gepakit.engine.acceptance import Acceptance, StrictImprovement
from gepakit.engine.best import beats
from gepakit.engine.budget import Budget
from gepakit.engine.pareto import Frontier
from gepakit.engine.sampling import BatchSampler, CheckedSampler, EpochSampler
from gepakit.engine.selection import (
    CandidateSelector,
    ComponentSelector,
    ParetoSelector,
    RoundRobinComponents,
    SelectionView,
)
from gepakit.engine.stopping import StopCondition
from gepakit.engine.valpolicy import FullEvaluation, ValPolicy
from gepakit.types import Candidate, Example, Proposal, Rollout


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchConfig:
    """How the search proceeds. Built by `gepakit.api`; the engine never parses strings."""

    minibatch_size: int = 3
    perfect_score: float = 1.0
    skip_perfect_score: bool = True
    use_merge: bool = True
    max_merge_invocations: int = 5
    merge_subsample_size: int = 5
    merge_val_overlap_floor: int = 5
    max_concurrent_proposals: int = 1
    track_best_outputs: bool = False
    max_error_rate: float | None = None
    """Stop when a larger share of one evaluation's rollouts fails (see `engine.health`)."""
    seed: int = 0
    candidate_selector: CandidateSelector = field(default_factory=ParetoSelector)
    component_selector: ComponentSelector = field(default_factory=RoundRobinComponents)
    acceptance: Acceptance = field(default_factory=StrictImprovement)
    stop_conditions: tuple[StopCondition, ...] = ()
    val_policy: ValPolicy = field(default_factory=FullEvaluation)
    batch_sampler: Any = None
    """None: `EpochSampler`; else a `BatchSampler`, or ``fn(train_ids, rng) -> ids``."""
    frontier_type: str = "instance"
    """Frontier keys: "instance" (per val example), "objective" (per objective, the mean
    over evaluated examples), "hybrid" (both) or "cartesian" (per example and objective)."""
    eval_repeats: int = 1
    """Draws (metric calls) per (candidate, example) evaluation; the score is their mean
    (see `gepakit.engine.draws`)."""
    reuse_evaluations: bool = True
    """Whether an evaluation may be served by earlier draws (the evaluation cache)."""


FRONTIER_TYPES = ("instance", "objective", "hybrid", "cartesian")


class EngineState:
    """Everything the search knows. Mutated only on the engine thread."""

    def __init__(
        self,
        seed_candidate: Candidate,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        config: SearchConfig,
        budget: Budget,
    ) -> None:
        self.seed_candidate = seed_candidate
        self.train = {ex.id: ex for ex in trainset}
        self.val = {ex.id: ex for ex in valset}
        self.val_ids = [ex.id for ex in valset]
        self.config = config
        self.budget = budget
        self.rng = random.Random(config.seed)
        self.sampler = _sampler(config, [ex.id for ex in trainset])
        self.candidates: list[Candidate] = []
        self.index_of: dict[str, int] = {}
        self.parents: list[tuple[int, ...]] = []
        self.origins: list[str] = []
        self.val_scores: list[dict[str, float]] = []
        self.aggregate: list[float] = []
        self.discovery_calls: list[int] = []
        self.frontier = Frontier()
        self.instances = Frontier()  # per val example, whatever the frontier type
        self.best_outputs: dict[str, list[tuple[int, Any]]] = {}
        self.component_pointers: dict[int, int] = {}
        self.rejected: dict[tuple[int, str], list[str]] = {}
        self.proposals: list[Proposal] = []
        # Merge chances (max_merge_invocations) are spent by merges kept: a chance is
        # due after each accepted child, a merge in flight holds one, and a merge that
        # fails its test gives it back.
        self.merges_due = 0
        self.merges_running = 0
        self.merges_made = 0
        self.merge_triples: set[tuple[int, int, int]] = set()
        # Pool size when the last merge search found no pair or the last merge failed:
        # the next search waits for a new candidate.
        self.merge_blocked_at = -1
        self.job_need: dict[int, int] = {}  # job id -> evaluations it may still ask for
        self.job_maybe: dict[int, int] = {}  # job id -> evaluations if its child passes
        self.seen_children: set[str] = set()  # every child text proposed so far
        self.reflection_calls = 0  # proposer invocations
        self.proposals_since_improvement = 0
        self.free_streak = 0
        self.failed_streak = 0
        self.in_validation: dict[str, tuple[Candidate, int]] = {}
        self.speculated: set[str] = set()
        # Proposers' replies: [edited in place, rewrote the text] (`rebase.kept_share`);
        # with several proposals in flight only.
        self.edits = [0, 0]
        self.commit_turn: str | None = None  # the child being rebased and validated
        self.seed_error: str | None = None
        self.evaluator_errors = 0  # distinct failed rollouts (see `engine.health`)
        self.best_idx = -1
        self.next_job_id = 0
        self.next_proposal_index = 0
        self.stop_reason: str | None = None

    # -- queries -------------------------------------------------------------

    @property
    def best_score(self) -> float:
        return self.aggregate[self.best_idx] if self.best_idx >= 0 else float("-inf")

    def selection_view(self) -> SelectionView:
        return SelectionView(
            candidates=[c.components for c in self.candidates],
            aggregate_scores=self.aggregate,
            frontier=self.frontier,
        )

    # -- updates -------------------------------------------------------------

    def add_candidate(
        self,
        candidate: Candidate,
        parents: tuple[int, ...],
        origin: str,
        rollouts: Sequence[Rollout],
        *,
        discovered_at: int | None = None,
    ) -> int:
        """Add a fully validated candidate; update frontier and best. Returns its index."""
        index = len(self.candidates)
        scores = {r.example_id: r.score for r in rollouts}
        self.candidates.append(candidate)
        self.index_of[candidate.id] = index
        self.parents.append(parents)
        self.origins.append(origin)
        self.val_scores.append(scores)
        self.aggregate.append(sum(scores.values()) / max(1, len(scores)))
        self.discovery_calls.append(self.budget.spent if discovered_at is None else discovered_at)
        if parents:  # a lineage keeps cycling through components (round robin)
            self.component_pointers[index] = max(self.component_pointers.get(p, 0) for p in parents)
        self.frontier.update(index, frontier_keys(self.config.frontier_type, rollouts))
        self.instances.update(index, scores)
        if self.config.track_best_outputs:
            self._track_outputs(index, rollouts)
        if self.best_idx < 0 or beats(
            scores,
            self.val_scores[self.best_idx],
            self.aggregate[index],
            self.aggregate[self.best_idx],
        ):
            self.best_idx = index
            self.proposals_since_improvement = 0
        return index

    @property
    def num_full_evals(self) -> int:
        """Candidates evaluated on the whole valset."""
        v = len(self.val_ids)
        return sum(1 for s in self.val_scores if len(s) == v)

    def _track_outputs(self, index: int, rollouts: Sequence[Rollout]) -> None:
        for r in rollouts:
            best = self.instances.best_scores.get(r.example_id)
            entries = self.best_outputs.setdefault(r.example_id, [])
            if best is not None and r.score >= best:
                if entries and self.val_scores[entries[0][0]][r.example_id] < r.score:
                    entries.clear()
                entries.append((index, r.output))

    def record_rejected(self, parent: int, texts: Mapping[str, str]) -> None:
        for name, text in texts.items():
            self.rejected.setdefault((parent, name), []).append(text)


def _sampler(config: SearchConfig, ids: list[str]) -> BatchSampler:
    given = config.batch_sampler
    if given is None:
        return EpochSampler(ids, config.minibatch_size)
    return CheckedSampler(given, ids, config.minibatch_size)


def frontier_keys(frontier_type: str, rollouts: Sequence[Rollout]) -> dict[str, float]:
    """The frontier keys and values of one candidate's val rollouts (see `SearchConfig`).

    Objective keys are ``"::<name>"`` (``"::score"`` for the main score, then one per
    objective the evaluator reports); cartesian keys ``"<example id>::<name>"``.
    """
    keys: dict[str, float] = {}
    if frontier_type in ("instance", "hybrid"):
        keys.update((r.example_id, r.score) for r in rollouts)
    if frontier_type in ("objective", "hybrid"):
        sums: dict[str, list[float]] = {}
        for r in rollouts:
            for name, value in {"score": r.score, **r.objectives}.items():
                sums.setdefault(name, []).append(value)
        keys.update((f"::{name}", sum(v) / len(v)) for name, v in sums.items())
    if frontier_type == "cartesian":
        for r in rollouts:
            for name, value in {"score": r.score, **r.objectives}.items():
                keys[f"{r.example_id}::{name}"] = value
    return keys
