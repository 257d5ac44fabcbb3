"""A gepa-state look-alike kept up to date from gepakit's events, and gepa callbacks.

gepa's stoppers, component selectors, candidate selectors and callbacks read a
`GEPAState`. gepakit's engine state is private to the engine, so `StateTracker`
(an `EventSink`) rebuilds the attributes they read into a `GEPAStateView` and
calls the `GEPACallback` hooks that correspond to gepakit's events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

from gepakit.engine.protocols import EventSink
from gepakit.engine.reflection import ProposerReply
from gepakit.types import Candidate, Proposal, Rollout

log = logging.getLogger("gepakit")

CALLED_HOOKS = (
    "on_optimization_start",
    "on_optimization_end",
    "on_iteration_start",
    "on_iteration_end",
    "on_candidate_selected",
    "on_minibatch_sampled",
    "on_evaluation_start",
    "on_evaluation_end",
    "on_evaluation_skipped",
    "on_valset_evaluated",
    "on_reflective_dataset_built",
    "on_proposal_start",
    "on_proposal_end",
    "on_candidate_accepted",
    "on_candidate_rejected",
    "on_merge_attempted",
    "on_merge_accepted",
    "on_merge_rejected",
    "on_budget_updated",
    "on_error",
)
"""The `GEPACallback` hooks gepakit calls. Never called: ``on_pareto_front_updated`` and
``on_state_saved`` (gepakit stores each record as it happens, not a state snapshot)."""


class Pointers(MutableMapping[int, int]):
    """gepa's per-candidate "next component" list, over gepakit's pointer dict.

    gepa's round-robin selector reads and writes ``[candidate_idx]``; a missing
    entry reads as 0, as for a new candidate in gepa.
    """

    def __init__(self, pointers: dict[int, int]) -> None:
        self.pointers = pointers

    def __getitem__(self, key: int) -> int:
        return self.pointers.get(key, 0)

    def __setitem__(self, key: int, value: int) -> None:
        self.pointers[key] = value

    def __delitem__(self, key: int) -> None:
        self.pointers.pop(key, None)

    def __iter__(self) -> Iterator[int]:
        return iter(self.pointers)

    def __len__(self) -> int:
        return len(self.pointers)


class GEPAStateView:
    """The attributes of gepa's `GEPAState` that its strategies and callbacks read.

    `i` is the index of the current iteration (-1 before the first), as in gepa.
    Val example keys are gepa's data ids (list positions for list datasets).
    Read-only for user code, except the round-robin pointers.
    """

    def __init__(self, seed: Mapping[str, str], data_id: Callable[[str], Any]) -> None:
        self.data_id = data_id
        self.i = -1
        self.program_candidates: list[dict[str, str]] = []
        self.parent_program_for_candidate: list[list[int | None]] = []
        self.program_full_scores_val_set: list[float] = []
        self.prog_candidate_val_subscores: list[dict[Any, float]] = []
        self.prog_candidate_objective_scores: list[dict[str, float]] = []
        self.num_metric_calls_by_discovery: list[int] = []
        self.list_of_named_predictors = list(seed)
        self.named_predictor_id_to_update_next_for_program_candidate: MutableMapping[int, int] = (
            Pointers({})
        )
        self.pareto_front_valset: dict[Any, float] = {}
        self.program_at_pareto_front_valset: dict[Any, set[int]] = {}
        self.total_num_evals = 0
        self.num_full_ds_evals = 0
        self.best_outputs_valset: dict[Any, list[tuple[int, Any]]] | None = None
        self.full_program_trace: list[dict[str, Any]] = []
        self.frontier_type = "instance"
        self._index: dict[str, int] = {}

    @property
    def per_program_tracked_scores(self) -> list[float]:
        return self.program_full_scores_val_set

    def get_pareto_front_mapping(self) -> dict[Any, set[int]]:
        """Val data id -> the candidates with the best score on it."""
        return {k: set(v) for k, v in self.program_at_pareto_front_valset.items()}

    def is_consistent(self) -> bool:
        return len(self.program_candidates) == len(self.program_full_scores_val_set)

    def index_of(self, texts: Mapping[str, str]) -> int | None:
        """Pool index of the candidate with these texts, or None."""
        return self._index.get(Candidate(components=dict(texts)).id)

    def add(
        self, candidate: Candidate, parents: list[int | None], scores: Mapping[str, float]
    ) -> int:
        index = len(self.program_candidates)
        self._index[candidate.id] = index
        self.program_candidates.append(dict(candidate.components))
        self.parent_program_for_candidate.append(parents)
        keyed = {self.data_id(k): v for k, v in scores.items()}
        self.prog_candidate_val_subscores.append(keyed)
        self.program_full_scores_val_set.append(sum(keyed.values()) / max(1, len(keyed)))
        self.num_metric_calls_by_discovery.append(self.total_num_evals)
        self.num_full_ds_evals += 1
        for key, score in keyed.items():
            best = self.pareto_front_valset.get(key)
            if best is None or score > best:
                self.pareto_front_valset[key] = score
                self.program_at_pareto_front_valset[key] = {index}
            elif score == best:
                self.program_at_pareto_front_valset[key].add(index)
        return index


class Hooks:
    """Calls gepa `GEPACallback` methods; a callback that raises is logged, never fatal."""

    def __init__(self, callbacks: Sequence[Any], view: GEPAStateView | None = None) -> None:
        self.callbacks = list(callbacks)
        self.view = view
        self.iteration_open = False
        self.trainset_size: int | None = None
        self._budget: dict[str, Any] | None = None

    @property
    def iteration(self) -> int:
        return self.view.i + 1 if self.view is not None else 0

    def fire(self, name: str, **event: Any) -> None:
        self.flush_budget()
        self._fire(name, event)

    def budget(self, used: int, delta: int, remaining: int) -> None:
        """Count metric calls; gepa reports them once per evaluation, so they are sent
        as one ``on_budget_updated`` before the next event."""
        if self._budget is not None:
            delta += self._budget["metric_calls_delta"]
        self._budget = {
            "iteration": self.iteration,
            "metric_calls_used": used,
            "metric_calls_delta": delta,
            "metric_calls_remaining": remaining,
        }

    def flush_budget(self) -> None:
        pending, self._budget = self._budget, None
        if pending is not None:
            self._fire("on_budget_updated", pending)

    def _fire(self, name: str, event: dict[str, Any]) -> None:
        for cb in self.callbacks:
            method = getattr(cb, name, None)
            if method is None:
                continue
            try:
                method(event)
            except Exception as exc:
                log.warning(
                    "gepa callback %r failed in %s: %s: %s", cb, name, type(exc).__name__, exc
                )

    def start_iteration(self) -> None:
        if self.iteration_open or self.view is None:
            return
        self.iteration_open = True
        self.view.i += 1
        self.fire(
            "on_iteration_start", iteration=self.iteration, state=self.view, trainset_loader=None
        )

    def evaluation_start(
        self, texts: Mapping[str, str], ids: Sequence[str], batch: Sequence[Any], traces: bool
    ) -> None:
        """A minibatch evaluation (with traces) starts; val evaluations have their own event.

        `ids` are the examples being evaluated: a minibatch's examples this candidate
        was already evaluated on come from the cache and are not listed.
        """
        if not traces:
            self.flush_budget()
            return
        idx = self.view.index_of(texts) if self.view is not None else None
        if idx is not None and self.view is not None and not self.iteration_open:
            # A pool candidate's minibatch: a reflective iteration selected it as parent.
            self.start_iteration()
            score = self.view.program_full_scores_val_set[idx]
            self.fire(
                "on_candidate_selected",
                iteration=self.iteration,
                candidate_idx=idx,
                candidate=dict(texts),
                score=score,
            )
            self.fire(
                "on_minibatch_sampled",
                iteration=self.iteration,
                minibatch_ids=[self.view.data_id(i) for i in ids],
                trainset_size=self.trainset_size,
            )
        self.fire(
            "on_evaluation_start",
            iteration=self.iteration,
            candidate_idx=idx,
            batch_size=len(batch),
            capture_traces=traces,
            parent_ids=[],
            inputs=list(batch),
            is_seed_candidate=idx == 0,
        )

    def evaluation_end(self, texts: Mapping[str, str], result: Any, traces: bool) -> None:
        if not traces:
            return
        idx = self.view.index_of(texts) if self.view is not None else None
        trajectories = getattr(result, "trajectories", None)
        self.fire(
            "on_evaluation_end",
            iteration=self.iteration,
            candidate_idx=idx,
            scores=list(result.scores),
            has_trajectories=trajectories is not None,
            parent_ids=[],
            outputs=list(result.outputs),
            trajectories=trajectories,
            objective_scores=getattr(result, "objective_scores", None),
            is_seed_candidate=idx == 0,
        )

    def dataset_built(
        self,
        candidate: Mapping[str, str],
        components: list[str],
        dataset: dict[str, list[dict[str, Any]]],
    ) -> None:
        self.start_iteration()
        idx = self.view.index_of(candidate) if self.view is not None else None
        self.fire(
            "on_reflective_dataset_built",
            iteration=self.iteration,
            candidate_idx=idx,
            components=components,
            dataset=dataset,
        )
        self.fire(
            "on_proposal_start",
            iteration=self.iteration,
            parent_candidate=dict(candidate),
            components=components,
            reflective_dataset=dataset,
        )

    def proposal_end(self, reply: ProposerReply) -> None:
        self.fire(
            "on_proposal_end",
            iteration=self.iteration,
            new_instructions=dict(reply.texts),
            prompts=dict(reply.prompts),
            raw_lm_outputs=dict(reply.replies),
        )


class StateTracker(EventSink):
    """Keeps a `GEPAStateView` in step with the run and fires the gepa callbacks."""

    def __init__(self, view: GEPAStateView, hooks: Hooks, config: Mapping[str, Any]) -> None:
        self.view = view
        self.hooks = hooks
        self.config = dict(config)
        self.seed: dict[str, str] = {}
        self._val: dict[str, dict[str, float]] = {}
        self.val_objectives: dict[str, dict[str, dict[str, float]]] = {}
        """Candidate id -> val example id -> objective scores (for the result)."""
        self._parents: dict[str, list[int | None]] = {}
        self._pending: Proposal | None = None
        self._id_to_index: dict[str, int] = {}

    def run_started(self, info: Mapping[str, Any]) -> None:
        self.hooks.trainset_size = info.get("train")
        self.hooks.fire(
            "on_optimization_start",
            seed_candidate=dict(self.seed),
            trainset_size=info.get("train"),
            valset_size=info.get("val"),
            config=dict(self.config),
        )

    def rollout_finished(self, rollout: Rollout) -> None:
        if rollout.split == "val":
            self._val.setdefault(rollout.candidate_id, {})[rollout.example_id] = rollout.score
            if rollout.objectives:
                per = self.val_objectives.setdefault(rollout.candidate_id, {})
                per[rollout.example_id] = dict(rollout.objectives)

    def budget_update(self, used: int, limit: int, cache_hits: int) -> None:
        delta = used - self.view.total_num_evals
        self.view.total_num_evals = used
        if self.view.program_candidates:  # gepa reports no budget event for the seed's valset
            self.hooks.budget(used, delta, limit - used)

    def candidate_added(self, index: int, candidate: Candidate, val_score: float) -> None:
        parents = self._parents.pop(candidate.id, [None])
        scores = self._val.get(candidate.id, {})
        self.view.add(candidate, parents, scores)
        self._id_to_index[candidate.id] = index
        best = max(self.view.program_full_scores_val_set)
        self.hooks.fire(
            "on_valset_evaluated",
            iteration=self.hooks.iteration,
            candidate_idx=index,
            candidate=dict(candidate.components),
            scores_by_val_id=dict(self.view.prog_candidate_val_subscores[index]),
            average_score=val_score,
            num_examples_evaluated=len(scores),
            total_valset_size=len(scores),
            parent_ids=[p for p in parents if p is not None],
            is_best_program=val_score >= best,
            outputs_by_val_id=None,
        )
        pending, self._pending = self._pending, None
        if pending is not None and pending.child_id == candidate.id:
            event = "on_merge_accepted" if pending.kind == "merge" else "on_candidate_accepted"
            extra = {} if pending.kind == "merge" else {"new_score": val_score}
            self.hooks.fire(
                event,
                iteration=self.hooks.iteration,
                new_candidate_idx=index,
                parent_ids=[p for p in parents if p is not None],
                **extra,
            )
            self._end_iteration(accepted=True)

    def proposal_finished(self, proposal: Proposal) -> None:
        self.hooks.start_iteration()  # merges, and minibatches served from the cache
        parents: list[int | None] = [self._id_to_index.get(p) for p in proposal.parent_ids]
        it = self.hooks.iteration
        if proposal.kind == "merge":
            self.hooks.fire(
                "on_merge_attempted",
                iteration=it,
                parent_ids=parents,
                merged_candidate=dict(proposal.new_texts),
            )
        if proposal.decision == "accepted" and proposal.child_id is not None:
            self._parents[proposal.child_id] = parents
            self._pending = proposal  # finished when the child joins the pool, just after
            return
        if proposal.kind == "merge":
            self.hooks.fire(
                "on_merge_rejected", iteration=it, parent_ids=parents, reason=proposal.reason
            )
        elif proposal.decision == "rejected" and proposal.child_scores:
            self.hooks.fire(
                "on_candidate_rejected",
                iteration=it,
                old_score=sum(proposal.parent_scores),
                new_score=sum(proposal.child_scores),
                reason=proposal.reason,
            )
        elif proposal.decision == "skipped" and "perfect" in proposal.reason:
            self.hooks.fire(
                "on_evaluation_skipped",
                iteration=it,
                candidate_idx=parents[0],
                reason="all_scores_perfect",
                scores=list(proposal.parent_scores),
                is_seed_candidate=parents[0] == 0,
            )
        elif proposal.decision == "failed":
            self.hooks.fire(
                "on_error",
                iteration=it,
                exception=RuntimeError(proposal.reason),
                will_continue=True,
            )
        self._end_iteration(accepted=False)

    def _end_iteration(self, *, accepted: bool) -> None:
        self.hooks.fire(
            "on_iteration_end",
            iteration=self.hooks.iteration,
            state=self.view,
            proposal_accepted=accepted,
        )
        self.hooks.iteration_open = False

    def run_finished(self, summary: Mapping[str, Any]) -> None:
        scores = self.view.program_full_scores_val_set
        best = max(range(len(scores)), key=lambda i: (scores[i], -i)) if scores else 0
        self.hooks.fire(
            "on_optimization_end",
            best_candidate_idx=best,
            total_iterations=self.view.i + 1,
            total_metric_calls=summary.get("total_metric_calls"),
            final_state=self.view,
        )
