"""Inline SVG charts of the report: score over budget, lineage tree, per-example heatmap.

Each function returns an SVG string; every piece of run data in it is escaped with `esc`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from html import escape

from gepakit.report.data import CandidateNode, CurvePoint, Edge, FrontierEntry

__all__ = ["esc", "heatmap_svg", "lineage_svg", "score_color", "score_curve_svg"]


def esc(value: object) -> str:
    """HTML-escape `value` (quotes too), for text and attribute values alike."""
    return escape(str(value), quote=True)


def _fmt(x: float) -> str:
    return f"{x:.1f}"


def score_color(score: float | None, lo: float, hi: float) -> str:
    """Red (low) through yellow to green (high); grey for a missing score."""
    if score is None or not math.isfinite(score):
        return "#d0d0d0"
    t = 1.0 if hi <= lo else (score - lo) / (hi - lo)
    t = min(1.0, max(0.0, t))
    return f"hsl({round(120 * t)}, 65%, {round(62 - 12 * t)}%)"


def _score_range(scores: Sequence[float]) -> tuple[float, float]:
    finite = [s for s in scores if math.isfinite(s)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    return (lo, hi) if hi > lo else (lo - 1.0, hi + 1.0)


def score_curve_svg(points: Sequence[CurvePoint], max_calls: int) -> str:
    """Best val score so far (step line) and each candidate (dots) against metric calls."""
    width, height, left, right, top, bottom = 720, 300, 56, 16, 16, 40
    lo, hi = _score_range([p.score for p in points])
    x_max = max([max_calls, *(p.metric_calls for p in points), 1])

    def x(calls: float) -> float:
        return left + (width - left - right) * calls / x_max

    def y(score: float) -> float:
        return top + (height - top - bottom) * (1 - (score - lo) / (hi - lo))

    parts = [
        f'<svg class="chart" id="score-chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" '
        'aria-label="best val score against metric calls">'
    ]
    for k in range(5):
        value = lo + (hi - lo) * k / 4
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" '
            f'y1="{_fmt(y(value))}" y2="{_fmt(y(value))}"/>'
            f'<text class="tick" x="{left - 6}" y="{_fmt(y(value) + 4)}" '
            f'text-anchor="end">{value:.2f}</text>'
        )
    for k in range(5):
        calls = x_max * k / 4
        parts.append(
            f'<text class="tick" x="{_fmt(x(calls))}" y="{height - bottom + 16}" '
            f'text-anchor="middle">{round(calls)}</text>'
        )
    parts.append(
        f'<text class="axis" x="{(left + width - right) / 2}" y="{height - 6}" '
        'text-anchor="middle">metric calls used</text>'
    )
    if points:
        path = [f"M{_fmt(x(points[0].metric_calls))},{_fmt(y(points[0].best))}"]
        for prev, cur in itertools.pairwise(points):
            path.append(f"L{_fmt(x(cur.metric_calls))},{_fmt(y(prev.best))}")
            path.append(f"L{_fmt(x(cur.metric_calls))},{_fmt(y(cur.best))}")
        path.append(f"L{_fmt(x(x_max))},{_fmt(y(points[-1].best))}")
        parts.append(f'<path class="best-line" d="{" ".join(path)}"/>')
    for p in points:
        parts.append(
            f'<a href="#cand-{p.candidate}"><circle class="cand-dot" '
            f'cx="{_fmt(x(p.metric_calls))}" cy="{_fmt(y(p.score))}" r="4">'
            f"<title>candidate {p.candidate}: val {p.score:.3f} at {p.metric_calls} calls"
            "</title></circle></a>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _tree_order(nodes: Sequence[CandidateNode]) -> list[int]:
    """Candidates in depth-first order over first parents, so subtrees sit together."""
    children: dict[int, list[int]] = {}
    roots: list[int] = []
    for n in nodes:
        if n.parents:
            children.setdefault(n.parents[0], []).append(n.index)
        else:
            roots.append(n.index)
    order: list[int] = []
    stack = list(reversed(roots))
    while stack:
        i = stack.pop()
        order.append(i)
        stack.extend(reversed(children.get(i, [])))
    return order


def lineage_svg(nodes: Sequence[CandidateNode], edges: Sequence[Edge]) -> str:
    """The lineage tree: one column per candidate (depth-first), one row per generation.

    Solid edges are reflections, dashed edges merges; the best candidate has a thick ring;
    a red badge counts the rejected proposals made from a candidate.
    """
    order = _tree_order(nodes)
    column = {i: k for k, i in enumerate(order)}
    max_depth = max((n.depth for n in nodes), default=0)
    step_x, step_y, pad = 56, 70, 36
    width = max(2 * pad + step_x * (len(order) - 1), 240)
    height = 2 * pad + step_y * max_depth + 20
    lo, hi = _score_range([n.score for n in nodes])
    pos = {n.index: (pad + step_x * column[n.index], pad + step_y * n.depth) for n in nodes}
    parts = [
        f'<svg class="chart" id="lineage-chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="lineage tree">'
    ]
    for e in edges:
        (x1, y1), (x2, y2) = pos[e.parent], pos[e.child]
        mid = (y1 + y2) / 2
        parts.append(
            f'<path class="edge edge-{esc(e.kind)}" '
            f'd="M{x1},{y1} C{x1},{mid} {x2},{mid} {x2},{y2}"/>'
        )
    for n in nodes:
        cx, cy = pos[n.index]
        ring = " best" if n.is_best else ""
        frontier = " frontier" if n.leads_on else ""
        parts.append(
            f'<a href="#cand-{n.index}"><g class="node{ring}{frontier}">'
            f'<circle cx="{cx}" cy="{cy}" r="15" fill="{score_color(n.score, lo, hi)}"/>'
            f'<text x="{cx}" y="{cy + 4}" text-anchor="middle">{n.index}</text>'
            f'<text class="node-score" x="{cx}" y="{cy + 29}" text-anchor="middle">'
            f"{n.score:.2f}</text>"
            f"<title>candidate {n.index} ({esc(n.origin)}): val {n.score:.3f}, "
            f"leads on {len(n.leads_on)} examples, {n.rejected} rejected proposals</title>"
        )
        if n.rejected:
            parts.append(
                f'<circle class="rejected-badge" cx="{cx + 14}" cy="{cy - 13}" r="8"/>'
                f'<text class="badge-text" x="{cx + 14}" y="{cy - 10}" '
                f'text-anchor="middle">{min(n.rejected, 99)}</text>'
            )
        parts.append("</g></a>")
    parts.append("</svg>")
    return "".join(parts)


def heatmap_svg(
    val_ids: Sequence[str],
    scores: Sequence[Sequence[float | None]],
    frontier: Sequence[FrontierEntry],
) -> str:
    """Score of every candidate (row) on every val example (column); leaders are outlined."""
    cell = 18 if len(val_ids) <= 40 else max(6, 720 // max(1, len(val_ids)))
    left, top = 48, 12
    width = left + cell * len(val_ids) + 8
    height = top + cell * len(scores) + 24
    finite = [s for row in scores for s in row if s is not None and math.isfinite(s)]
    lo, hi = _score_range(finite)
    leaders = [set(e.leaders) for e in frontier]
    parts = [
        f'<svg class="chart" id="heatmap" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="per-example scores">'
    ]
    for i, row in enumerate(scores):
        y = top + cell * i
        parts.append(
            f'<a href="#cand-{i}"><text class="tick" x="{left - 6}" y="{y + cell * 0.7:.1f}" '
            f'text-anchor="end">#{i}</text></a>'
        )
        for k, score in enumerate(row):
            lead = k < len(leaders) and i in leaders[k]
            shown = "missing" if score is None else f"{score:.3f}"
            parts.append(
                f'<rect class="cell{" lead" if lead else ""}" x="{left + cell * k}" y="{y}" '
                f'width="{cell - 1}" height="{cell - 1}" fill="{score_color(score, lo, hi)}">'
                f"<title>candidate {i} on {esc(val_ids[k])}: {shown}"
                f"{' (leader)' if lead else ''}</title></rect>"
            )
    parts.append(
        f'<text class="axis" x="{left}" y="{height - 6}">val examples (hover for ids); '
        "outlined: the best score on that example</text></svg>"
    )
    return "".join(parts)
