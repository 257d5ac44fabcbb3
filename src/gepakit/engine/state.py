"""Engine configuration and the in-memory state of a run."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gepakit.engine.acceptance import Acceptance, StrictImprovement
from gepakit.engine.budget import Budget
from gepakit.engine.pareto import Frontier
from gepakit.engine.sampling import EpochSampler
from gepakit.engine.selection import (
    CandidateSelector,
    ComponentSelector,
    ParetoSelector,
    RoundRobinComponents,
    SelectionView,
)
from gepakit.engine.stopping import StopCondition
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
    max_concurrent_proposals: int = 1
    track_best_outputs: bool = False
    seed: int = 0
    candidate_selector: CandidateSelector = field(default_factory=ParetoSelector)
    component_selector: ComponentSelector = field(default_factory=RoundRobinComponents)
    acceptance: Acceptance = field(default_factory=StrictImprovement)
    stop_conditions: tuple[StopCondition, ...] = ()


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
        self.sampler = EpochSampler([ex.id for ex in trainset], config.minibatch_size)
        self.candidates: list[Candidate] = []
        self.index_of: dict[str, int] = {}
        self.parents: list[tuple[int, ...]] = []
        self.origins: list[str] = []
        self.val_scores: list[dict[str, float]] = []
        self.aggregate: list[float] = []
        self.discovery_calls: list[int] = []
        self.frontier = Frontier()
        self.best_outputs: dict[str, list[tuple[int, Any]]] = {}
        self.component_pointers: dict[int, int] = {}
        self.rejected: dict[tuple[int, str], list[str]] = {}
        self.proposals: list[Proposal] = []
        self.merges_due = 0
        self.merges_tried = 0
        self.merge_triples: set[tuple[int, int, int]] = set()
        self.proposals_since_improvement = 0
        self.free_streak = 0
        self.failed_streak = 0
        self.in_validation: dict[str, tuple[Candidate, int]] = {}
        self.speculated: set[str] = set()
        self.seed_error: str | None = None
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
        keyed: dict[str, float] = dict(scores)
        for r in rollouts:
            for name, value in r.objectives.items():
                keyed[f"{r.example_id}::{name}"] = value
        self.frontier.update(index, keyed)
        if self.config.track_best_outputs:
            self._track_outputs(index, rollouts)
        if self.best_idx < 0 or self.aggregate[index] > self.aggregate[self.best_idx]:
            self.best_idx = index
            self.proposals_since_improvement = 0
        return index

    def _track_outputs(self, index: int, rollouts: Sequence[Rollout]) -> None:
        for r in rollouts:
            best = self.frontier.best_scores.get(r.example_id)
            entries = self.best_outputs.setdefault(r.example_id, [])
            if best is not None and r.score >= best:
                if entries and self.val_scores[entries[0][0]][r.example_id] < r.score:
                    entries.clear()
                entries.append((index, r.output))

    def record_rejected(self, parent: int, texts: Mapping[str, str]) -> None:
        for name, text in texts.items():
            self.rejected.setdefault((parent, name), []).append(text)
