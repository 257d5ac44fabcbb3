"""Plain data of a run report, computed from a `Result`; `report/html.py` renders it.

Nothing here knows HTML. Every function takes and returns plain records so the report's
content is tested without a browser.
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gepakit.errors import ConfigError, GepakitError
from gepakit.report.details import RunDetails
from gepakit.result import Result
from gepakit.types import Candidate

__all__ = [
    "CandidateNode",
    "ComponentDiff",
    "CurvePoint",
    "DiffRow",
    "Edge",
    "FrontierEntry",
    "ProposalView",
    "ReportData",
    "UsageRow",
    "build_report_data",
    "diff_rows",
    "load_result",
]

DiffKind = Literal["equal", "replace", "delete", "insert"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CurvePoint:
    """A candidate joined the pool after `metric_calls`; `best` is the best score so far."""

    metric_calls: int
    candidate: int
    score: float
    best: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CandidateNode:
    """One candidate of the lineage tree."""

    index: int
    id: str
    origin: str
    parents: tuple[int, ...]
    score: float
    metric_calls: int
    depth: int
    is_best: bool
    leads_on: tuple[str, ...]
    """Val example ids on which this candidate reaches the best score (Pareto frontier)."""
    rejected: int
    """Proposals from this candidate that were rejected, skipped or failed."""
    texts: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Edge:
    """Parent -> child; `kind` is ``reflection`` (first parent) or ``merge`` (other parents)."""

    parent: int
    child: int
    kind: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FrontierEntry:
    """One val example: its best score and the candidates reaching it.

    `discriminating` is False when every candidate scores the same on it (all solve it
    or all fail it): such an example says nothing about which candidate is better, so
    the report does not count it as "led" by anyone.
    """

    example_id: str
    best: float
    leaders: tuple[int, ...]
    discriminating: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class DiffRow:
    """One row of a side-by-side diff; a side is None where the line does not exist.

    For ``replace`` rows, `left_segments`/`right_segments` split the lines into
    (changed?, text) pieces at word level.
    """

    kind: DiffKind
    left: str | None
    right: str | None
    left_segments: tuple[tuple[bool, str], ...] = ()
    right_segments: tuple[tuple[bool, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentDiff:
    """The diff of one component between a candidate and its parent."""

    child: int
    parent: int
    component: str
    changed: bool
    rows: tuple[DiffRow, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalView:
    """A proposal with candidate indices resolved (None when not in the pool)."""

    index: int
    kind: str
    decision: str
    reason: str
    parents: tuple[int | None, ...]
    child: int | None
    components: tuple[str, ...]
    minibatch_ids: tuple[str, ...]
    parent_scores: tuple[float, ...]
    child_scores: tuple[float, ...]
    prompts: Mapping[str, str]
    replies: Mapping[str, str]
    new_texts: Mapping[str, str]
    metric_calls_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageRow:
    """LM usage of one role (``task``, ``reflection``, ...) or of all roles (``total``)."""

    role: str
    calls: int
    cache_hits: int
    prompt_tokens: int
    completion_tokens: int
    errors: int
    cost_usd: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportData:
    """Everything the report shows, as plain data."""

    title: str
    summary: Mapping[str, Any]
    curve: tuple[CurvePoint, ...]
    nodes: tuple[CandidateNode, ...]
    edges: tuple[Edge, ...]
    val_ids: tuple[str, ...]
    scores: tuple[tuple[float | None, ...], ...]
    """`scores[candidate][k]`: score of the candidate on `val_ids[k]` (None if missing)."""
    frontier: tuple[FrontierEntry, ...]
    diffs: tuple[ComponentDiff, ...]
    proposals: tuple[ProposalView, ...]
    usage: tuple[UsageRow, ...]
    decisions: Mapping[str, int]
    seed_diff: tuple[ComponentDiff, ...] = ()
    """The best candidate against the seed, per component (empty when the seed is best)."""
    details: RunDetails | None = None
    """Per-example results and the timeline, when the run's store was available."""


def load_result(source: Result | str | Path) -> Result:
    """The `Result` of `source`: a Result, a run directory, or a result JSON file.

    A run directory is read with `gepakit.load_run` when the run store provides it,
    else from its ``result.json``.

    Raises:
        ConfigError: `source` is neither a result file nor a run directory with one.
    """
    if isinstance(source, Result):
        return source
    path = Path(source)
    if path.is_dir():
        loaded = _load_run(path)
        if loaded is not None:
            return loaded
        path = path / "result.json"
    if not path.is_file():
        raise ConfigError(
            f"{source} is neither a run directory nor a result JSON file "
            "(a run directory holds the run store or result.json)"
        )
    try:
        return Result.from_json(path)
    except (ValueError, KeyError) as error:
        raise ConfigError(f"cannot read a gepakit result from {path}: {error}") from error


def _load_run(run_dir: Path) -> Result | None:
    """`gepakit.load_run(run_dir)` when the run store provides it and the directory holds a
    store, else None (the caller falls back to ``result.json``)."""
    import gepakit

    load_run: Any = getattr(gepakit, "load_run", None)
    if load_run is None:
        return None
    try:
        result = load_run(run_dir)
    except (GepakitError, OSError):
        if (run_dir / "result.json").is_file():
            return None
        raise
    return result if isinstance(result, Result) else None


def _word_segments(
    left: str, right: str
) -> tuple[tuple[tuple[bool, str], ...], tuple[tuple[bool, str], ...]]:
    """Split two lines into (changed?, text) runs, comparing word by word."""
    a = _tokens(left)
    b = _tokens(right)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    ls: list[tuple[bool, str]] = []
    rs: list[tuple[bool, str]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        changed = tag != "equal"
        if i2 > i1:
            ls.append((changed, "".join(a[i1:i2])))
        if j2 > j1:
            rs.append((changed, "".join(b[j1:j2])))
    return tuple(ls), tuple(rs)


def _tokens(line: str) -> list[str]:
    """Words and the whitespace between them, so joining the tokens gives the line back."""
    tokens: list[str] = []
    for part in line.split(" "):
        if tokens:
            tokens.append(" ")
        if part:
            tokens.append(part)
    return tokens


def diff_rows(old: str, new: str) -> tuple[DiffRow, ...]:
    """Side-by-side diff rows of two texts, by line, with word-level detail on changes."""
    a = old.splitlines()
    b = new.splitlines()
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows.extend(DiffRow(kind="equal", left=x, right=x) for x in a[i1:i2])
        elif tag == "delete":
            rows.extend(DiffRow(kind="delete", left=x, right=None) for x in a[i1:i2])
        elif tag == "insert":
            rows.extend(DiffRow(kind="insert", left=None, right=x) for x in b[j1:j2])
        else:
            rows.extend(_replace_rows(a[i1:i2], b[j1:j2]))
    return tuple(rows)


def _replace_rows(left: Sequence[str], right: Sequence[str]) -> list[DiffRow]:
    rows: list[DiffRow] = []
    for k in range(max(len(left), len(right))):
        lx = left[k] if k < len(left) else None
        rx = right[k] if k < len(right) else None
        if lx is None:
            rows.append(DiffRow(kind="insert", left=None, right=rx))
        elif rx is None:
            rows.append(DiffRow(kind="delete", left=lx, right=None))
        else:
            ls, rs = _word_segments(lx, rx)
            rows.append(
                DiffRow(kind="replace", left=lx, right=rx, left_segments=ls, right_segments=rs)
            )
    return rows


def _candidate_ids(result: Result) -> dict[str, int]:
    return {Candidate(components=c).id: i for i, c in enumerate(result.candidates)}


def _curve(result: Result) -> tuple[CurvePoint, ...]:
    order = sorted(range(result.num_candidates), key=lambda i: (result.discovery_eval_counts[i], i))
    points: list[CurvePoint] = []
    best = float("-inf")
    for i in order:
        score = result.val_aggregate_scores[i]
        best = max(best, score)
        points.append(
            CurvePoint(
                metric_calls=result.discovery_eval_counts[i], candidate=i, score=score, best=best
            )
        )
    return tuple(points)


def _depths(parents: Sequence[Sequence[int]]) -> list[int]:
    depths: list[int] = []
    for ps in parents:
        known = [depths[p] for p in ps if p < len(depths)]
        depths.append(1 + max(known) if known else 0)
    return depths


def _val_ids(result: Result) -> tuple[str, ...]:
    ids = list(result.per_val_instance_best_candidates)
    seen = set(ids)
    for scores in result.val_subscores:
        for key in scores:
            if key not in seen:
                seen.add(key)
                ids.append(key)
    return tuple(ids)


def _frontier(result: Result, val_ids: Sequence[str]) -> tuple[FrontierEntry, ...]:
    entries: list[FrontierEntry] = []
    for eid in val_ids:
        scored = [(s[eid], i) for i, s in enumerate(result.val_subscores) if eid in s]
        best = max((v for v, _ in scored), default=0.0)
        leaders = result.per_val_instance_best_candidates.get(eid)
        if leaders is None:
            leaders = frozenset(i for v, i in scored if v == best)
        tied = len(scored) == len(result.val_subscores) and all(v == best for v, _ in scored)
        entries.append(
            FrontierEntry(
                example_id=eid,
                best=best,
                leaders=tuple(sorted(leaders)),
                discriminating=not tied,
            )
        )
    return tuple(entries)


def _nodes(
    result: Result, frontier: Sequence[FrontierEntry], rejected: Mapping[int, int]
) -> tuple[CandidateNode, ...]:
    depths = _depths(result.parents)
    leads: dict[int, list[str]] = {}
    for entry in frontier:
        if not entry.discriminating:
            continue
        for i in entry.leaders:
            leads.setdefault(i, []).append(entry.example_id)
    best = result.best_idx
    return tuple(
        CandidateNode(
            index=i,
            id=Candidate(components=texts).id,
            origin=result.origins[i] if i < len(result.origins) else "",
            parents=tuple(result.parents[i]),
            score=result.val_aggregate_scores[i],
            metric_calls=result.discovery_eval_counts[i],
            depth=depths[i],
            is_best=i == best,
            leads_on=tuple(leads.get(i, ())),
            rejected=rejected.get(i, 0),
            texts=dict(texts),
        )
        for i, texts in enumerate(result.candidates)
    )


def _edges(result: Result) -> tuple[Edge, ...]:
    return tuple(
        Edge(parent=p, child=child, kind="reflection" if k == 0 and len(ps) == 1 else "merge")
        for child, ps in enumerate(result.parents)
        for k, p in enumerate(ps)
    )


def _diffs(result: Result) -> tuple[ComponentDiff, ...]:
    out: list[ComponentDiff] = []
    for child, ps in enumerate(result.parents):
        for parent in ps:
            old = result.candidates[parent]
            new = result.candidates[child]
            for name in sorted(set(old) | set(new)):
                before = old.get(name, "")
                after = new.get(name, "")
                out.append(
                    ComponentDiff(
                        child=child,
                        parent=parent,
                        component=name,
                        changed=before != after,
                        rows=diff_rows(before, after),
                    )
                )
    return tuple(out)


def _proposals(result: Result, ids: Mapping[str, int]) -> tuple[ProposalView, ...]:
    return tuple(
        ProposalView(
            index=p.index,
            kind=p.kind,
            decision=p.decision,
            reason=p.reason,
            parents=tuple(ids.get(pid) for pid in p.parent_ids),
            child=ids.get(p.child_id) if p.child_id is not None else None,
            components=p.components,
            minibatch_ids=p.minibatch_ids,
            parent_scores=p.parent_scores,
            child_scores=p.child_scores,
            prompts=dict(p.prompts),
            replies=dict(p.replies),
            new_texts=dict(p.new_texts),
            metric_calls_at=p.metric_calls_at,
        )
        for p in result.proposals
    )


def _usage(usage: Mapping[str, Any]) -> tuple[UsageRow, ...]:
    roles: Mapping[str, Any] = usage.get("roles", usage)
    rows: list[UsageRow] = []
    for role, counts in roles.items():
        if not isinstance(counts, Mapping):
            continue
        rows.append(_usage_row(str(role), counts))
    if len(rows) > 1:
        costs = [r.cost_usd for r in rows]
        rows.append(
            UsageRow(
                role="total",
                calls=sum(r.calls for r in rows),
                cache_hits=sum(r.cache_hits for r in rows),
                prompt_tokens=sum(r.prompt_tokens for r in rows),
                completion_tokens=sum(r.completion_tokens for r in rows),
                errors=sum(r.errors for r in rows),
                cost_usd=None if None in costs else sum(c for c in costs if c is not None),
            )
        )
    return tuple(rows)


def _usage_row(role: str, counts: Mapping[str, Any]) -> UsageRow:
    cost = counts.get("cost_usd")
    return UsageRow(
        role=role,
        calls=int(counts.get("calls", 0)),
        cache_hits=int(counts.get("cache_hits", 0)),
        prompt_tokens=int(counts.get("prompt_tokens", 0)),
        completion_tokens=int(counts.get("completion_tokens", 0)),
        errors=int(counts.get("errors", 0)),
        cost_usd=None if cost is None else float(cost),
    )


def _seed_diff(result: Result) -> tuple[ComponentDiff, ...]:
    best = result.best_idx
    if best == 0:
        return ()
    old, new = result.candidates[0], result.candidates[best]
    return tuple(
        ComponentDiff(
            child=best,
            parent=0,
            component=name,
            changed=old.get(name, "") != new.get(name, ""),
            rows=diff_rows(old.get(name, ""), new.get(name, "")),
        )
        for name in sorted(set(old) | set(new))
    )


def build_report_data(
    result: Result, *, title: str | None = None, details: RunDetails | None = None
) -> ReportData:
    """Compute everything the report shows from `result`.

    Args:
        result: a finished (or interrupted) run.
        title: page title; default names the run directory, if any.
        details: per-example results and timeline from the run's store
            (`gepakit.report.details.load_details`), if available.

    Returns:
        The `ReportData`.

    Raises:
        ConfigError: the result has no candidates.
    """
    if not result.candidates:
        raise ConfigError("the result has no candidates; nothing to report")
    ids = _candidate_ids(result)
    proposals = _proposals(result, ids)
    rejected = Counter(
        p.parents[0]
        for p in proposals
        if p.decision != "accepted" and p.parents and p.parents[0] is not None
    )
    val_ids = _val_ids(result)
    frontier = _frontier(result, val_ids)
    nodes = _nodes(result, frontier, {k: v for k, v in rejected.items() if k is not None})
    decisions = Counter(p.decision for p in proposals)
    best = result.best_idx
    summary = {
        "candidates": result.num_candidates,
        "best_index": best,
        "best_score": result.best_score,
        "seed_score": result.val_aggregate_scores[0],
        "metric_calls": result.total_metric_calls,
        "max_metric_calls": result.max_metric_calls,
        "cache_hits": result.cache_hits,
        "proposals": len(proposals),
        "frontier_size": len({i for e in frontier if e.discriminating for i in e.leaders}),
        "val_examples": len(val_ids),
        "tied_examples": sum(not e.discriminating for e in frontier),
        "evaluator_errors": result.evaluator_errors,
        "reflection_calls": getattr(result, "reflection_calls", None),
        "stop_reason": result.stop_reason,
        "seed": result.seed,
        "run_dir": result.run_dir,
        "best_candidate": json.dumps(dict(result.candidates[best]), ensure_ascii=False),
    }
    return ReportData(
        title=title or f"gepakit run report{f': {result.run_dir}' if result.run_dir else ''}",
        summary=summary,
        curve=_curve(result),
        nodes=nodes,
        edges=_edges(result),
        val_ids=val_ids,
        scores=tuple(tuple(s.get(eid) for eid in val_ids) for s in result.val_subscores),
        frontier=frontier,
        diffs=_diffs(result),
        proposals=proposals,
        usage=_usage(result.usage),
        decisions=dict(decisions),
        seed_diff=_seed_diff(result),
        details=details,
    )
