"""`DspyGEPAResult`: the `detailed_results` of an optimized program, with dspy.GEPA's fields."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dspy

from gepakit.engine.best import best_index
from gepakit.integrations.dspy.programs import ExampleRecord, instructions
from gepakit.result import Result


@dataclass(frozen=True)
class DspyGEPAResult:
    """What a run found, shaped like DSPy's ``DspyGEPAResult``, plus usage and cost.

    Val instances are keyed by their position in the valset (0, 1, ...), as in DSPy.
    `parents[i]` is ``[None]`` for the seed. `usage` is the ledger per role ("task",
    "reflection"); `cost_usd` its total (None when a model's price is unknown).
    `gepakit_result` is the full gepakit `Result` (proposals, origins, stop reason).
    """

    candidates: list[dspy.Module]
    parents: list[list[int | None]]
    val_aggregate_scores: list[float]
    val_subscores: list[dict[Any, float]]
    per_val_instance_best_candidates: dict[Any, set[int]]
    discovery_eval_counts: list[int]
    best_outputs_valset: dict[Any, list[tuple[int, Any]]] | None = None
    total_metric_calls: int | None = None
    num_full_val_evals: int | None = None
    log_dir: str | None = None
    seed: int | None = None
    val_aggregate_subscores: list[dict[str, float]] | None = None
    per_objective_best_candidates: dict[str, set[int]] | None = None
    objective_pareto_front: dict[str, float] | None = None
    usage: Mapping[str, Any] = field(default_factory=dict)
    cost_usd: float | None = None
    evaluator_errors: int = 0
    """Rollouts whose program or metric raised (scored failure_score), as dspy.GEPA scores
    them; gepakit counts them (dspy.GEPA does not)."""
    gepakit_result: Result | None = None

    @property
    def best_idx(self) -> int:
        """Index of the candidate with the highest aggregate val score (earliest on
        ties); a candidate whose val evaluation the exact budget cut short is compared
        on the examples it was scored on (`gepakit.engine.best`)."""
        return best_index(self.val_subscores, self.val_aggregate_scores)

    @property
    def best_candidate(self) -> dspy.Module:
        """The best program."""
        return self.candidates[self.best_idx]

    @property
    def highest_score_achieved_per_val_task(self) -> dict[Any, float]:
        """Best score reached on each val instance."""
        return {
            val_id: self.val_subscores[min(best)][val_id]
            for val_id, best in self.per_val_instance_best_candidates.items()
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain data with DSPy's keys; candidates as instruction dicts."""
        return {
            "candidates": [
                {name: instructions(p) for name, p in c.named_predictors()} for c in self.candidates
            ],
            "parents": self.parents,
            "val_aggregate_scores": self.val_aggregate_scores,
            "best_outputs_valset": self.best_outputs_valset,
            "val_subscores": self.val_subscores,
            "per_val_instance_best_candidates": {
                k: sorted(v) for k, v in self.per_val_instance_best_candidates.items()
            },
            "val_aggregate_subscores": self.val_aggregate_subscores,
            "per_objective_best_candidates": None
            if self.per_objective_best_candidates is None
            else {k: sorted(v) for k, v in self.per_objective_best_candidates.items()},
            "objective_pareto_front": self.objective_pareto_front,
            "discovery_eval_counts": self.discovery_eval_counts,
            "total_metric_calls": self.total_metric_calls,
            "num_full_val_evals": self.num_full_val_evals,
            "log_dir": self.log_dir,
            "seed": self.seed,
            "best_idx": self.best_idx,
            "usage": dict(self.usage),
            "cost_usd": self.cost_usd,
            "evaluator_errors": self.evaluator_errors,
        }


ObjectiveLookup = Callable[[Mapping[str, str], str], "Mapping[str, float] | None"]
"""(candidate texts, val example id) -> the metric's objective scores, or None."""


@dataclass(frozen=True)
class _Objectives:
    aggregate: list[dict[str, float]]
    best: dict[str, set[int]]
    front: dict[str, float]


def objective_fields(result: Result, lookup: ObjectiveLookup) -> _Objectives | None:
    """gepa's multi-objective fields from per-example objective scores.

    Per candidate, each objective averaged over the val examples that report it; per
    objective, the best such average and the candidates reaching it. None when the
    metric returned no objective scores.
    """
    aggregate: list[dict[str, float]] = []
    for candidate, subscores in zip(result.candidates, result.val_subscores, strict=True):
        totals: dict[str, list[float]] = {}
        for example_id in subscores:
            for name, value in (lookup(candidate, example_id) or {}).items():
                totals.setdefault(name, []).append(float(value))
        aggregate.append({k: sum(v) / len(v) for k, v in totals.items()})
    if not any(aggregate):
        return None
    front: dict[str, float] = {}
    best: dict[str, set[int]] = {}
    for index, scores in enumerate(aggregate):
        for name, value in scores.items():
            if value > front.get(name, float("-inf")):
                front[name], best[name] = value, {index}
            elif value == front[name]:
                best[name].add(index)
    return _Objectives(aggregate, best, front)


def detailed_results(
    result: Result,
    valset: Sequence[ExampleRecord],
    build: Callable[[Mapping[str, str]], dspy.Module],
    *,
    usage: Mapping[str, Any],
    cost_usd: float | None,
    objectives: ObjectiveLookup | None = None,
    evaluator_errors: int = 0,
) -> DspyGEPAResult:
    """Translate a gepakit `Result` into DSPy's shape (val ids -> valset positions)."""
    position = {rec.id: rec.index for rec in valset}
    multi = objective_fields(result, objectives) if objectives is not None else None
    outputs = None
    if result.best_outputs_valset is not None:
        outputs = {
            position[k]: [(int(i), o) for i, o in v]
            for k, v in result.best_outputs_valset.items()
            if k in position
        }
    return DspyGEPAResult(
        candidates=[build(c) for c in result.candidates],
        parents=[list(p) if p else [None] for p in result.parents],
        val_aggregate_scores=list(result.val_aggregate_scores),
        val_subscores=[
            {position[k]: v for k, v in s.items() if k in position} for s in result.val_subscores
        ],
        per_val_instance_best_candidates={
            position[k]: set(v)
            for k, v in result.per_val_instance_best_candidates.items()
            if k in position
        },
        discovery_eval_counts=list(result.discovery_eval_counts),
        best_outputs_valset=outputs,
        total_metric_calls=result.total_metric_calls,
        num_full_val_evals=result.num_full_val_evals,
        log_dir=result.run_dir,
        seed=result.seed,
        val_aggregate_subscores=multi.aggregate if multi else None,
        per_objective_best_candidates=multi.best if multi else None,
        objective_pareto_front=multi.front if multi else None,
        usage=dict(usage),
        cost_usd=cost_usd,
        evaluator_errors=evaluator_errors,
        gepakit_result=result,
    )
