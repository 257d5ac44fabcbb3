"""Inline SVG charts of the report: score over budget, lineage tree, per-example heatmap.

Each function returns an SVG string; every piece of run data in it is escaped with `esc`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from html import escape

from gepakit.report.data import CandidateNode, CurvePoint, Edge, FrontierEntry

__all__ = [
    "esc",
    "heatmap_rows",
    "heatmap_svg",
    "lineage_svg",
    "score_color",
    "score_curve_svg",
    "timeline_svg",
]


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


TREE_LAYOUT_MAX = 20
"""Up to this many candidates the lineage is drawn as a tree with labelled nodes; beyond
it, as a fixed-width chart of score against discovery order (see `lineage_svg`)."""


def lineage_svg(nodes: Sequence[CandidateNode], edges: Sequence[Edge]) -> str:
    """The lineage: a labelled tree for small runs, a fixed-size chart for large ones.

    Up to `TREE_LAYOUT_MAX` candidates: one column per candidate (depth-first), one row
    per generation. Beyond that the tree would be thousands of pixels wide, so each
    candidate is a dot at (order of discovery, val score) with an edge from each parent:
    the chart keeps its width at 500 candidates and lineages read as rising paths.
    Solid edges are reflections, dashed edges merges; the best candidate has a thick ring;
    a red badge counts the rejected proposals made from a candidate.
    """
    if len(nodes) > TREE_LAYOUT_MAX:
        return _lineage_scatter_svg(nodes, edges)
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


def _lineage_scatter_svg(nodes: Sequence[CandidateNode], edges: Sequence[Edge]) -> str:
    width, height, left, right, top, bottom = 1100, 420, 56, 16, 16, 40
    lo, hi = _score_range([n.score for n in nodes])
    count = max(1, len(nodes) - 1)
    radius = 5 if len(nodes) <= 150 else 3.5

    def pos(n: CandidateNode) -> tuple[float, float]:
        x = left + (width - left - right) * n.index / count
        y = top + (height - top - bottom) * (1 - (n.score - lo) / ((hi - lo) or 1.0))
        return x, y

    at = {n.index: pos(n) for n in nodes}
    parts = [
        f'<svg class="chart fit" id="lineage-chart" viewBox="0 0 {width} {height}" '
        'preserveAspectRatio="xMidYMid meet" role="img" '
        'aria-label="lineage: val score against order of discovery">'
    ]
    for k in range(5):
        value = lo + (hi - lo) * k / 4
        yy = top + (height - top - bottom) * (1 - k / 4)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{_fmt(yy)}" '
            f'y2="{_fmt(yy)}"/><text class="tick" x="{left - 6}" y="{_fmt(yy + 4)}" '
            f'text-anchor="end">{value:.2f}</text>'
        )
    parts.append(
        f'<text class="axis" x="{(left + width - right) / 2}" y="{height - 8}" '
        'text-anchor="middle">candidates in order of discovery (hover a dot, click to open)'
        "</text>"
    )
    for e in edges:
        if e.parent not in at or e.child not in at:
            continue
        (x1, y1), (x2, y2) = at[e.parent], at[e.child]
        parts.append(
            f'<path class="edge thin edge-{esc(e.kind)}" '
            f'd="M{_fmt(x1)},{_fmt(y1)} L{_fmt(x2)},{_fmt(y2)}"/>'
        )
    for n in nodes:
        cx, cy = at[n.index]
        classes = "node" + (" best" if n.is_best else "") + (" frontier" if n.leads_on else "")
        r = radius * 1.8 if n.is_best else radius
        parts.append(
            f'<a href="#cand-{n.index}"><g class="{classes}">'
            f'<circle cx="{_fmt(cx)}" cy="{_fmt(cy)}" r="{r}" '
            f'fill="{score_color(n.score, lo, hi)}"/>'
            f"<title>candidate {n.index} ({esc(n.origin)}): val {n.score:.3f}, parents "
            f"{', '.join(map(str, n.parents)) or 'none'}, leads on {len(n.leads_on)} "
            f"examples, {n.rejected} rejected proposals</title></g></a>"
        )
    parts.append("</svg>")
    return "".join(parts)


def timeline_svg(
    points: Sequence[tuple[float, float, float | None]], *, cost_label: str = "cost (USD)"
) -> str:
    """Best val score (line) and cumulative LM cost (dashed, right axis) against minutes.

    `points` are (elapsed seconds, best score, cost or None).
    """
    width, height, left, right, top, bottom = 720, 260, 56, 64, 16, 40
    t_max = max([p[0] for p in points] + [1.0]) / 60
    lo, hi = _score_range([p[1] for p in points])
    costs = [p[2] for p in points if p[2] is not None]
    c_max = max([*costs, 0.0]) or 1.0

    def x(seconds: float) -> float:
        return left + (width - left - right) * (seconds / 60) / t_max

    def y(score: float) -> float:
        return top + (height - top - bottom) * (1 - (score - lo) / ((hi - lo) or 1.0))

    def yc(cost: float) -> float:
        return top + (height - top - bottom) * (1 - cost / c_max)

    parts = [
        f'<svg class="chart" id="timeline-chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" '
        'aria-label="best val score and cost against wall time">'
    ]
    for k in range(5):
        yy = top + (height - top - bottom) * (1 - k / 4)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{_fmt(yy)}" '
            f'y2="{_fmt(yy)}"/><text class="tick" x="{left - 6}" y="{_fmt(yy + 4)}" '
            f'text-anchor="end">{lo + (hi - lo) * k / 4:.2f}</text>'
        )
        if costs:
            parts.append(
                f'<text class="tick" x="{width - right + 6}" y="{_fmt(yy + 4)}">'
                f"{c_max * k / 4:.3g}</text>"
            )
        parts.append(
            f'<text class="tick" x="{_fmt(left + (width - left - right) * k / 4)}" '
            f'y="{height - bottom + 16}" text-anchor="middle">{t_max * k / 4:.1f}</text>'
        )
    parts.append(
        f'<text class="axis" x="{(left + width - right) / 2}" y="{height - 6}" '
        f'text-anchor="middle">minutes since the run started'
        f"{f'; dashed: {esc(cost_label)}, right axis' if costs else ''}</text>"
    )
    if points:
        path = [f"M{_fmt(x(points[0][0]))},{_fmt(y(points[0][1]))}"]
        for prev, cur in itertools.pairwise(points):
            path.append(f"L{_fmt(x(cur[0]))},{_fmt(y(prev[1]))}")
            path.append(f"L{_fmt(x(cur[0]))},{_fmt(y(cur[1]))}")
        parts.append(f'<path class="best-line" d="{" ".join(path)}"/>')
        priced = [(t, c) for t, _, c in points if c is not None]
        if priced:
            line = " ".join(
                f"{'M' if k == 0 else 'L'}{_fmt(x(t))},{_fmt(yc(c))}"
                for k, (t, c) in enumerate(priced)
            )
            parts.append(f'<path class="cost-line" d="{line}"/>')
    parts.append("</svg>")
    return "".join(parts)


HEATMAP_MAX_ROWS = 60
"""The heatmap shows at most this many candidates (seed, best, frontier first)."""


def heatmap_rows(count: int, keep: Sequence[int]) -> list[int]:
    """Which candidate rows the heatmap shows: all up to `HEATMAP_MAX_ROWS`, else the
    first `HEATMAP_MAX_ROWS` distinct candidates of `keep` (in priority order: seed,
    best, then the frontier), shown in index order."""
    if count <= HEATMAP_MAX_ROWS:
        return list(range(count))
    picked = list(dict.fromkeys(i for i in keep if 0 <= i < count))[:HEATMAP_MAX_ROWS]
    return sorted(picked)


def heatmap_svg(
    val_ids: Sequence[str],
    scores: Sequence[Sequence[float | None]],
    frontier: Sequence[FrontierEntry],
    rows: Sequence[int] | None = None,
) -> str:
    """Score of candidates (rows) on every val example (column); leaders are outlined.

    `rows` picks the candidates shown (default: all), so a run with hundreds of
    candidates keeps a readable map (see `heatmap_rows`).
    """
    shown = list(range(len(scores))) if rows is None else list(rows)
    cell = 18 if len(val_ids) <= 40 else max(6, 720 // max(1, len(val_ids)))
    left, top = 48, 12
    width = left + cell * len(val_ids) + 8
    height = top + cell * len(shown) + 24
    finite = [s for row in scores for s in row if s is not None and math.isfinite(s)]
    lo, hi = _score_range(finite)
    leaders = [set(e.leaders) if e.discriminating else set() for e in frontier]
    parts = [
        f'<svg class="chart fit" id="heatmap" viewBox="0 0 {width} {height}" '
        f'style="max-width:{width}px" role="img" aria-label="per-example scores">'
    ]
    for pos, i in enumerate(shown):
        row = scores[i]
        y = top + cell * pos
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
