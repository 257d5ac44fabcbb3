"""`GEPAResult`: gepa's result record, filled from a gepakit run."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from gepakit.engine.best import best_index
from gepakit.result import Result


@dataclass(frozen=True)
class GEPAResult:
    """The fields and methods of gepa's `GEPAResult` (schema 2 of its `to_dict`).

    Val keys are gepa's data ids: list positions for list valsets, the loader's ids
    for a `DataLoader`. `parents[0]` is ``[None]`` as in gepa. `gepakit_result` is
    the full gepakit `Result` (proposals, usage, stop reason, cache hits).
    """

    candidates: list[dict[str, str]]
    parents: list[list[int | None]]
    val_aggregate_scores: list[float]
    val_subscores: list[dict[Any, float]]
    per_val_instance_best_candidates: dict[Any, set[int]]
    discovery_eval_counts: list[int]
    val_aggregate_subscores: list[dict[str, float]] | None = None
    per_objective_best_candidates: dict[str, set[int]] | None = None
    objective_pareto_front: dict[str, float] | None = None
    best_outputs_valset: dict[Any, list[tuple[int, Any]]] | None = None
    total_metric_calls: int | None = None
    num_full_val_evals: int | None = None
    run_dir: str | None = None
    seed: int | None = None
    _str_candidate_key: str | None = None
    gepakit_result: Result | None = field(default=None, compare=False, repr=False)

    _VALIDATION_SCHEMA_VERSION: ClassVar[int] = 2

    @property
    def num_candidates(self) -> int:
        return len(self.candidates)

    @property
    def num_val_instances(self) -> int:
        return len(self.per_val_instance_best_candidates)

    @property
    def best_idx(self) -> int:
        """Index of the highest mean val score (the first one on ties); a candidate
        whose val evaluation the exact budget cut short is compared on the examples it
        was scored on (`gepakit.engine.best`)."""
        return best_index(self.val_subscores, self.val_aggregate_scores)

    @property
    def best_candidate(self) -> dict[str, str] | str:
        texts = self.candidates[self.best_idx]
        key = self._str_candidate_key
        return texts[key] if key is not None and key in texts else texts

    @property
    def stop_reason(self) -> str | None:
        """Why the run stopped (gepakit's; gepa's result has no such field)."""
        return self.gepakit_result.stop_reason if self.gepakit_result is not None else None

    def candidate_tree_dot(self) -> str:
        """The lineage as a Graphviz DOT graph (frontier candidates filled)."""
        on_front = set().union(*self.per_val_instance_best_candidates.values())
        lines = ["digraph G {", "    node [style=filled, shape=circle];"]
        for i, score in enumerate(self.val_aggregate_scores):
            color = "orange" if i == self.best_idx else "cyan" if i in on_front else "white"
            lines.append(f'    {i} [label="{i}\\n{score:.2f}", fillcolor={color}];')
        for i, parents in enumerate(self.parents):
            lines.extend(f"    {p} -> {i};" for p in parents if p is not None)
        lines.append("}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, in gepa's layout (readable by gepa's `GEPAResult.from_dict`)."""

        def sets(d: Mapping[Any, set[int]] | None) -> dict[Any, list[int]] | None:
            return None if d is None else {k: sorted(v) for k, v in d.items()}

        return {
            "candidates": [dict(c) for c in self.candidates],
            "parents": [list(p) for p in self.parents],
            "val_aggregate_scores": list(self.val_aggregate_scores),
            "val_subscores": [dict(s) for s in self.val_subscores],
            "best_outputs_valset": self.best_outputs_valset,
            "per_val_instance_best_candidates": sets(self.per_val_instance_best_candidates),
            "val_aggregate_subscores": self.val_aggregate_subscores,
            "per_objective_best_candidates": sets(self.per_objective_best_candidates),
            "objective_pareto_front": self.objective_pareto_front,
            "discovery_eval_counts": list(self.discovery_eval_counts),
            "total_metric_calls": self.total_metric_calls,
            "num_full_val_evals": self.num_full_val_evals,
            "run_dir": self.run_dir,
            "seed": self.seed,
            "_str_candidate_key": self._str_candidate_key,
            "best_idx": self.best_idx,
            "validation_schema_version": self._VALIDATION_SCHEMA_VERSION,
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> GEPAResult:
        """Read `to_dict` output (gepa's or gepakit's; schema 0 to 2)."""
        version = d.get("validation_schema_version") or 0
        if version > GEPAResult._VALIDATION_SCHEMA_VERSION:
            raise ValueError(
                f"unsupported GEPAResult schema version {version} (this reads up to "
                f"{GEPAResult._VALIDATION_SCHEMA_VERSION})"
            )

        def keyed(value: Any) -> dict[Any, Any]:
            return dict(enumerate(value)) if isinstance(value, list) else dict(value)

        fronts = keyed(d.get("per_val_instance_best_candidates", {}))
        outputs = d.get("best_outputs_valset")
        objective_best = d.get("per_objective_best_candidates")
        aggregates = d.get("val_aggregate_subscores")
        front = d.get("objective_pareto_front")
        return GEPAResult(
            candidates=[dict(c) for c in d.get("candidates", [])],
            parents=[list(p) for p in d.get("parents", [])],
            val_aggregate_scores=[float(x) for x in d.get("val_aggregate_scores", [])],
            val_subscores=[keyed(s) for s in d.get("val_subscores", [])],
            per_val_instance_best_candidates={k: set(v) for k, v in fronts.items()},
            discovery_eval_counts=list(d.get("discovery_eval_counts", [])),
            val_aggregate_subscores=None if aggregates is None else [dict(a) for a in aggregates],
            per_objective_best_candidates=None
            if objective_best is None
            else {k: set(v) for k, v in objective_best.items()},
            objective_pareto_front=None if front is None else dict(front),
            best_outputs_valset=None
            if outputs is None
            else {k: [(int(i), o) for i, o in v] for k, v in keyed(outputs).items()},
            total_metric_calls=d.get("total_metric_calls"),
            num_full_val_evals=d.get("num_full_val_evals"),
            run_dir=d.get("run_dir"),
            seed=d.get("seed"),
            _str_candidate_key=d.get("_str_candidate_key"),
        )


def gepa_result(
    result: Result,
    data_id: Callable[[str], Any],
    val_objectives: Mapping[int, Sequence[Mapping[str, float]]] | None = None,
) -> GEPAResult:
    """A `GEPAResult` from a gepakit `Result`.

    Args:
        result: the run's result.
        data_id: maps gepakit example ids to gepa's data ids.
        val_objectives: candidate index -> objective scores of its val rollouts.
    """
    objectives = _objectives(len(result.candidates), val_objectives or {})
    return GEPAResult(
        candidates=[dict(c) for c in result.candidates],
        parents=[list(p) if p else [None] for p in result.parents],
        val_aggregate_scores=list(result.val_aggregate_scores),
        val_subscores=[{data_id(k): v for k, v in s.items()} for s in result.val_subscores],
        per_val_instance_best_candidates={
            data_id(k): set(v) for k, v in result.per_val_instance_best_candidates.items()
        },
        discovery_eval_counts=list(result.discovery_eval_counts),
        val_aggregate_subscores=objectives[0],
        per_objective_best_candidates=objectives[1],
        objective_pareto_front=objectives[2],
        best_outputs_valset=None
        if result.best_outputs_valset is None
        else {
            data_id(k): [(int(i), o) for i, o in v] for k, v in result.best_outputs_valset.items()
        },
        total_metric_calls=result.total_metric_calls,
        num_full_val_evals=result.num_full_val_evals,
        run_dir=result.run_dir,
        seed=result.seed,
        gepakit_result=result,
    )


def _objectives(
    count: int, table: Mapping[int, Sequence[Mapping[str, float]]]
) -> tuple[list[dict[str, float]] | None, dict[str, set[int]] | None, dict[str, float] | None]:
    """Per-candidate mean objective scores, and the per-objective front, as in gepa."""
    values: dict[int, dict[str, list[float]]] = {}
    for index, rollouts in table.items():
        for objectives in rollouts:
            for name, value in objectives.items():
                values.setdefault(index, {}).setdefault(name, []).append(float(value))
    if not values:
        return None, None, None
    means = [{k: sum(v) / len(v) for k, v in values.get(i, {}).items()} for i in range(count)]
    front: dict[str, float] = {}
    best: dict[str, set[int]] = {}
    for i, m in enumerate(means):
        for name, value in m.items():
            if name not in front or value > front[name]:
                front[name], best[name] = value, {i}
            elif value == front[name]:
                best[name].add(i)
    return means, best, front
