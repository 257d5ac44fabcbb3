"""What the report shows beyond the `Result`, read from a run's store.

The `Result` has scores, lineage and proposals. A run directory also holds every
rollout (outputs and feedback per example) and a timed event log; from those come the
per-example view (the seed against the best candidate, side by side) and the timeline
(best score and LM cost against wall-clock time). Plain data, no HTML.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gepakit.engine.draws import stored_evaluation
from gepakit.result import Result
from gepakit.types import Candidate, Proposal, Rollout

__all__ = [
    "ExampleRow",
    "RolloutView",
    "RunDetails",
    "TimePoint",
    "details_from_store",
    "load_details",
    "timeline",
]

TEXT_LIMIT = 2000
"""Characters of an input, output or feedback shown per example (the rest is cut)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutView:
    """One candidate's result on one example, as text."""

    score: float
    output: str
    feedback: str
    error: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExampleRow:
    """One val example: its input, and the seed's and the best candidate's results."""

    example_id: str
    inputs: str
    seed: RolloutView | None
    best: RolloutView | None

    @property
    def change(self) -> str:
        """``improved``, ``regressed``, ``same`` or ``missing`` (best against seed)."""
        if self.seed is None or self.best is None:
            return "missing"
        if self.best.score > self.seed.score:
            return "improved"
        if self.best.score < self.seed.score:
            return "regressed"
        return "same"


@dataclass(frozen=True, slots=True, kw_only=True)
class TimePoint:
    """The state of the run `elapsed` seconds after it started."""

    elapsed: float
    metric_calls: int
    best: float
    cost_usd: float | None
    tokens: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunDetails:
    """Store-derived parts of the report."""

    examples: tuple[ExampleRow, ...]
    timeline: tuple[TimePoint, ...]
    wall_time: float | None
    """Seconds from the first to the last logged event (all sessions)."""


def _text(value: Any, limit: int = TEXT_LIMIT) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str, indent=1)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[:limit] + f" ... ({len(text) - limit} more)"


def _view(rollout: Rollout | None) -> RolloutView | None:
    if rollout is None:
        return None
    return RolloutView(
        score=rollout.score,
        output=_text(rollout.output),
        feedback=_text(rollout.feedback),
        error=rollout.error,
    )


def _cost_of(usage: Mapping[str, Any]) -> tuple[float | None, int]:
    roles: Mapping[str, Any] = usage.get("roles", {}) if isinstance(usage, Mapping) else {}
    cost: float | None = 0.0
    tokens = 0
    for counts in roles.values():
        if not isinstance(counts, Mapping):
            continue
        tokens += int(counts.get("prompt_tokens", 0)) + int(counts.get("completion_tokens", 0))
        value = counts.get("cost_usd")
        if value is None:
            if int(counts.get("calls", 0)):
                cost = None
        elif cost is not None:
            cost += float(value)
    return cost, tokens


def timeline(
    result: Result, events: Sequence[tuple[float, str, Mapping[str, Any]]]
) -> tuple[TimePoint, ...]:
    """Best val score and cumulative LM cost at each logged proposal, against time.

    Args:
        result: the run's result (for the proposals and candidate scores).
        events: the store's (time, kind, data) event log, oldest first.
    """
    if not events:
        return ()
    start = events[0][0]
    by_index: dict[int, Proposal] = {p.index: p for p in result.proposals}
    score_of = {
        Candidate(components=c).id: s
        for c, s in zip(result.candidates, result.val_aggregate_scores, strict=False)
    }
    best = result.val_aggregate_scores[0] if result.val_aggregate_scores else float("nan")
    cost: float | None = None
    tokens: int | None = None
    calls = result.discovery_eval_counts[0] if result.discovery_eval_counts else 0
    points = [TimePoint(elapsed=0.0, metric_calls=calls, best=best, cost_usd=None, tokens=None)]
    for time, kind, data in events:
        if kind == "usage":
            cost, tokens = _cost_of(data)
            continue
        if kind != "proposal":
            continue
        proposal = by_index.get(int(data.get("index", -1)))
        if proposal is None:
            continue
        if proposal.decision == "accepted" and proposal.child_id in score_of:
            best = max(best, score_of[proposal.child_id])
        calls = max(calls, proposal.metric_calls_at)
        points.append(
            TimePoint(
                elapsed=max(0.0, time - start),
                metric_calls=calls,
                best=best,
                cost_usd=cost,
                tokens=tokens,
            )
        )
    return tuple(points)


def details_from_store(store: Any, result: Result) -> RunDetails:
    """Build the details of `result` from its open run store (a `SQLiteStore`)."""
    events = store.events()
    repeats = int(((store.meta().get("spec") or {}).get("search") or {}).get("eval_repeats", 1))
    infos = {i: info for i, _, _, info in store.candidates()}

    def val(index: int, example_id: str) -> Rollout | None:
        """The candidate's val score there: the mean of its draws (`engine/draws.py`)."""
        cid = Candidate(components=result.candidates[index]).id
        first = int((infos.get(index, {}).get("val_draws") or {}).get(example_id, 0))
        return stored_evaluation(store.rollout, (cid, example_id, "val"), first, repeats)

    best_idx = result.best_idx  # a scan of the candidates: once, not per example
    rows = tuple(
        ExampleRow(
            example_id=ex.id,
            inputs=_text(ex.data),
            seed=_view(val(0, ex.id)),
            best=_view(val(best_idx, ex.id)),
        )
        for ex in store.examples("val")
    )
    wall = events[-1][0] - events[0][0] if events else None
    return RunDetails(examples=rows, timeline=timeline(result, events), wall_time=wall)


def load_details(run_dir: str | Path, result: Result) -> RunDetails | None:
    """The details of the run in `run_dir`, or None when it holds no run store."""
    from gepakit.errors import GepakitError
    from gepakit.store.sqlite import SQLiteStore

    path = Path(run_dir)
    if not (path / "run.db").is_file() or not result.candidates:
        return None
    try:
        with SQLiteStore(path, readonly=True) as store:
            return details_from_store(store, result)
    except (GepakitError, OSError):
        return None
