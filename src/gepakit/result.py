"""The `Result` of a run: best candidate, scores, lineage, frontier, proposals, usage."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gepakit.engine.best import best_index
from gepakit.engine.state import EngineState
from gepakit.types import SCHEMA_VERSION, Proposal, to_jsonable


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    """What an optimization found. Field names follow GEPA's result where they exist.

    Candidates are indexed in the order they joined the pool (0 is the seed).
    `val_subscores[i]` maps val example id -> score of candidate i.
    """

    candidates: tuple[Mapping[str, str], ...]
    parents: tuple[tuple[int, ...], ...]
    origins: tuple[str, ...]
    val_aggregate_scores: tuple[float, ...]
    val_subscores: tuple[Mapping[str, float], ...]
    per_val_instance_best_candidates: Mapping[str, frozenset[int]]
    discovery_eval_counts: tuple[int, ...]
    total_metric_calls: int
    num_full_val_evals: int
    cache_hits: int = 0
    max_metric_calls: int = 0
    best_outputs_valset: Mapping[str, tuple[tuple[int, Any], ...]] | None = None
    proposals: tuple[Proposal, ...] = ()
    usage: Mapping[str, Any] = field(default_factory=dict)
    stop_reason: str = ""
    seed: int = 0
    run_dir: str | None = None
    evaluator_errors: int = 0
    """Rollouts whose evaluator raised or returned NaN (scored as failures)."""

    @property
    def best_idx(self) -> int:
        """Index of the candidate with the highest mean val score (earliest on ties).

        A candidate scored on fewer val examples than another (the budget ended during
        its val evaluation) is compared with it on the examples both were scored on;
        see `gepakit.engine.best`.
        """
        return best_index(self.val_subscores, self.val_aggregate_scores)

    @property
    def best_candidate(self) -> dict[str, str]:
        """Texts of the best candidate."""
        return dict(self.candidates[self.best_idx])

    @property
    def best_score(self) -> float:
        """Mean val score of the best candidate."""
        return self.val_aggregate_scores[self.best_idx]

    @property
    def reflection_calls(self) -> int:
        """Reflection LM calls made by the run (from `usage`; 0 when not recorded)."""
        role = self.usage.get("roles", {}).get("reflection", {}) if self.usage else {}
        return int(role.get("calls", 0))

    @property
    def cost_usd(self) -> float | None:
        """USD cost of every LM call in `usage` (None when some price is unknown)."""
        roles = self.usage.get("roles", {}) if self.usage else {}
        costs = [r.get("cost_usd") for r in roles.values()]
        return None if any(c is None for c in costs) else float(sum(costs))

    @property
    def num_candidates(self) -> int:
        return len(self.candidates)

    def __repr__(self) -> str:
        """One screen: scores, budget and the best candidate's texts, cut short.

        The full data stays in the fields (`candidates`, `proposals`, ...) and in
        `to_dict()`.
        """
        if not self.candidates:
            return f"Result(no candidates, {self.total_metric_calls} metric calls)"
        decisions = Counter(p.decision for p in self.proposals)
        counts = ", ".join(f"{n} {d}" for d, n in sorted(decisions.items())) or "none"
        lines = [
            f"Result(best_score={self.best_score:.4g}, best_idx={self.best_idx}, "
            f"seed score {self.val_aggregate_scores[0]:.4g}, "
            f"{self.num_candidates} candidates,",
            f"       metric calls {self.total_metric_calls}/{self.max_metric_calls}"
            f" ({self.cache_hits} cache hits), reflection calls {self.reflection_calls}"
            f"{_cost(self.cost_usd)}, proposals: {counts},",
            f"       stop_reason={_cut(self.stop_reason, 90)!r},",
        ]
        if self.run_dir is not None:
            lines.append(f"       run_dir={self.run_dir!r},")
        lines.append("       best_candidate={")
        best = self.best_candidate
        for name, text in list(best.items())[:8]:
            lines.append(f"           {name!r}: {_cut(text, 160)!r},")
        if len(best) > 8:
            lines.append(f"           ... {len(best) - 8} more components")
        lines.append("       })")
        return "\n".join(lines)

    def lineage(self, index: int | None = None) -> list[int]:
        """Indices from the seed to `index` (default: the best), following first parents."""
        node = self.best_idx if index is None else index
        path = [node]
        while self.parents[node]:
            node = self.parents[node][0]
            path.append(node)
        return path[::-1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "candidates": [dict(c) for c in self.candidates],
            "parents": [list(p) for p in self.parents],
            "origins": list(self.origins),
            "val_aggregate_scores": list(self.val_aggregate_scores),
            "val_subscores": [dict(s) for s in self.val_subscores],
            "per_val_instance_best_candidates": {
                k: sorted(v) for k, v in self.per_val_instance_best_candidates.items()
            },
            "discovery_eval_counts": list(self.discovery_eval_counts),
            "total_metric_calls": self.total_metric_calls,
            "num_full_val_evals": self.num_full_val_evals,
            "cache_hits": self.cache_hits,
            "max_metric_calls": self.max_metric_calls,
            "best_outputs_valset": None
            if self.best_outputs_valset is None
            else {
                k: [[i, to_jsonable(o)] for i, o in v] for k, v in self.best_outputs_valset.items()
            },
            "proposals": [p.to_dict() for p in self.proposals],
            "usage": to_jsonable(self.usage),
            "stop_reason": self.stop_reason,
            "seed": self.seed,
            "run_dir": self.run_dir,
            "evaluator_errors": self.evaluator_errors,
            "best_idx": self.best_idx,
            "best_score": self.best_score,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Result:
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"unsupported result schema_version {version!r} "
                f"(this gepakit reads {SCHEMA_VERSION})"
            )
        bov = d.get("best_outputs_valset")
        return cls(
            candidates=tuple(dict(c) for c in d["candidates"]),
            parents=tuple(tuple(p) for p in d["parents"]),
            origins=tuple(d.get("origins", ())),
            val_aggregate_scores=tuple(float(x) for x in d["val_aggregate_scores"]),
            val_subscores=tuple({k: float(v) for k, v in s.items()} for s in d["val_subscores"]),
            per_val_instance_best_candidates={
                k: frozenset(v) for k, v in d["per_val_instance_best_candidates"].items()
            },
            discovery_eval_counts=tuple(d["discovery_eval_counts"]),
            total_metric_calls=int(d["total_metric_calls"]),
            num_full_val_evals=int(d["num_full_val_evals"]),
            cache_hits=int(d.get("cache_hits", 0)),
            max_metric_calls=int(d.get("max_metric_calls", 0)),
            best_outputs_valset=None
            if bov is None
            else {k: tuple((int(i), o) for i, o in v) for k, v in bov.items()},
            proposals=tuple(Proposal.from_dict(p) for p in d.get("proposals", ())),
            usage=dict(d.get("usage", {})),
            stop_reason=d.get("stop_reason", ""),
            seed=int(d.get("seed", 0)),
            run_dir=d.get("run_dir"),
            evaluator_errors=int(d.get("evaluator_errors", 0)),
        )

    def to_json(self, path: str | Path | None = None) -> str:
        """Serialize to JSON; also write it to `path` when given."""
        # Non-finite scores (an overflowing mean of 1e308s) become the strings "inf",
        # "-inf", "nan", which `from_dict` reads back: JSON has no Infinity.
        data = to_jsonable(self.to_dict())
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:  # lone surrogates: \u escapes read back exactly
                text = json.dumps(data, indent=2, ensure_ascii=True, allow_nan=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> Result:
        """Load a result from a JSON string or a file path."""
        text = str(text_or_path)
        if isinstance(text_or_path, Path) or not text.lstrip().startswith("{"):
            text = Path(text_or_path).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text))


def _cut(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _cost(cost: float | None) -> str:
    return "" if not cost else f", cost ${cost:.4f}"


def result_from_state(
    state: EngineState,
    *,
    usage: Mapping[str, Any] | None = None,
    run_dir: str | None = None,
    stop_reason: str | None = None,
) -> Result:
    """Build a `Result` from the engine state."""
    per_instance = {eid: state.instances.leaders(eid) for eid in state.val_ids}
    outputs = None
    if state.config.track_best_outputs:
        outputs = {k: tuple(v) for k, v in state.best_outputs.items()}
    return Result(
        candidates=tuple(dict(c.components) for c in state.candidates),
        parents=tuple(state.parents),
        origins=tuple(state.origins),
        val_aggregate_scores=tuple(state.aggregate),
        val_subscores=tuple(dict(s) for s in state.val_scores),
        per_val_instance_best_candidates=per_instance,
        discovery_eval_counts=tuple(state.discovery_calls),
        total_metric_calls=state.budget.used,
        num_full_val_evals=state.num_full_evals,
        cache_hits=state.budget.cache_hits,
        max_metric_calls=state.budget.limit,
        best_outputs_valset=outputs,
        proposals=tuple(state.proposals),
        usage=dict(usage or {}),
        stop_reason=stop_reason or state.stop_reason or "",
        seed=state.config.seed,
        run_dir=run_dir,
        evaluator_errors=state.evaluator_errors,
    )
