"""Render `ReportData` as one self-contained static HTML page (no script, no network).

Every string that comes from a run (prompts, replies, feedback, ids, component names)
goes through `esc`. The page also carries a Content-Security-Policy that forbids
scripts, as a second line of defence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from gepakit.report.charts import esc, heatmap_svg, lineage_svg, score_curve_svg
from gepakit.report.data import (
    CandidateNode,
    ComponentDiff,
    DiffRow,
    ProposalView,
    ReportData,
    UsageRow,
)

__all__ = ["render_html"]

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_CSS = """
:root { --fg:#1d2330; --muted:#667085; --line:#e4e7ec; --bg:#f8f9fb; --accent:#3056d3; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 8px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
section > h2:first-child { margin-top: 0; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 16px 20px; margin: 16px 0; }
.muted { color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 12px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 10px 14px; min-width: 150px; }
.card .v { font-size: 20px; font-weight: 600; } .card .k { color: var(--muted); font-size: 12px; }
.scroll { overflow-x: auto; }
svg.chart text { font-size: 11px; fill: var(--fg); }
svg.chart .tick { fill: var(--muted); } svg.chart .axis { fill: var(--muted); font-size: 12px; }
svg.chart .grid { stroke: var(--line); }
.best-line { fill: none; stroke: var(--accent); stroke-width: 2.5; }
.cand-dot { fill: #fff; stroke: var(--accent); stroke-width: 2; }
.edge { fill: none; stroke: #98a2b3; stroke-width: 1.6; }
.edge-merge { stroke: #9e77ed; stroke-dasharray: 5 4; }
.node circle { stroke: #475467; stroke-width: 1; }
.node.frontier circle { stroke: #1d2330; stroke-width: 2; }
.node.best > circle:first-child { stroke: var(--accent); stroke-width: 4; }
.node .node-score { fill: var(--muted); font-size: 10px; }
.rejected-badge { fill: #f04438; stroke: #fff !important; }
.badge-text { fill: #fff !important; font-size: 9px !important; font-weight: 700; }
rect.cell.lead { stroke: #1d2330; stroke-width: 1.5; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left;
  vertical-align: top; }
th { font-weight: 600; background: var(--bg); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { white-space: pre-wrap; word-break: break-word; background: var(--bg);
  border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; margin: 4px 0;
  font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; max-height: 420px;
  overflow: auto; }
table.diff { table-layout: fixed; font: 12px/1.4 ui-monospace, SFMono-Regular, monospace; }
table.diff td { white-space: pre-wrap; word-break: break-word; border: none; width: 50%; }
table.diff tr.delete td.l, table.diff tr.replace td.l { background: #fef3f2; }
table.diff tr.insert td.r, table.diff tr.replace td.r { background: #ecfdf3; }
table.diff del { background: #fda29b; text-decoration: none; }
table.diff ins { background: #75e0a7; text-decoration: none; }
details { margin: 6px 0; } summary { cursor: pointer; }
.tag { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px;
  border: 1px solid var(--line); }
.tag.accepted { background: #ecfdf3; color: #067647; }
.tag.rejected { background: #fef3f2; color: #b42318; }
.tag.skipped { background: #f2f4f7; color: #475467; }
.tag.failed { background: #fffaeb; color: #b54708; }
.legend span { margin-right: 14px; }
"""


def _fmt_score(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _cards(data: ReportData) -> str:
    s = data.summary
    used, limit = s["metric_calls"], s["max_metric_calls"]
    cards = [
        ("best val score", f"{s['best_score']:.3f}"),
        ("seed val score", f"{s['seed_score']:.3f}"),
        ("best candidate", f"#{s['best_index']}"),
        ("metric calls", f"{used} / {limit}" if limit else str(used)),
        ("candidates", str(s["candidates"])),
        ("frontier", f"{s['frontier_size']} candidates"),
        ("proposals", str(s["proposals"])),
    ]
    cards += [(f"{k} proposals", str(v)) for k, v in sorted(data.decisions.items())]
    html = "".join(
        f'<div class="card"><div class="v">{esc(v)}</div><div class="k">{esc(k)}</div></div>'
        for k, v in cards
    )
    return f'<div class="cards">{html}</div>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], num: set[int]) -> str:
    head = "".join(
        f'<th class="num">{esc(h)}</th>' if k in num else f"<th>{esc(h)}</th>"
        for k, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{c}</td>' if k in num else f"<td>{c}</td>" for k, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _summary(data: ReportData) -> str:
    s = data.summary
    best = next(n for n in data.nodes if n.is_best)
    texts = "".join(
        f"<h3>{esc(name)}</h3><pre>{esc(text)}</pre>" for name, text in best.texts.items()
    )
    return (
        f"<section id='summary'><h2>Summary</h2>{_cards(data)}"
        f"<p class='muted'>Stop reason: {esc(s['stop_reason'] or '-')}. "
        f"Seed {esc(s['seed'])}. {esc(s['val_examples'])} val examples. "
        f"{esc(s['cache_hits'])} cache hits.</p>"
        f"<h3>Best candidate (#{best.index})</h3>{texts}</section>"
    )


def _score_section(data: ReportData) -> str:
    return (
        "<section id='score'><h2>Best val score against metric calls</h2>"
        f"<div class='scroll'>{score_curve_svg(data.curve, data.summary['max_metric_calls'])}"
        "</div><p class='muted'>Line: best mean val score so far. Dots: each candidate when it "
        "joined the pool (click to jump to it).</p></section>"
    )


def _lineage_section(data: ReportData) -> str:
    return (
        "<section id='lineage'><h2>Lineage</h2>"
        "<p class='legend muted'><span>solid edge: reflection</span>"
        "<span>dashed edge: merge</span><span>thick ring: best</span>"
        "<span>dark outline: on the Pareto frontier</span>"
        "<span>red badge: rejected proposals from that candidate</span></p>"
        f"<div class='scroll'>{lineage_svg(data.nodes, data.edges)}</div></section>"
    )


def _frontier_section(data: ReportData) -> str:
    rows = [
        (
            f"<a href='#cand-{n.index}'>#{n.index}</a>",
            f"{n.score:.3f}",
            str(len(n.leads_on)),
            esc(", ".join(n.leads_on[:30]) + (" ..." if len(n.leads_on) > 30 else "")),
        )
        for n in sorted(data.nodes, key=lambda n: -len(n.leads_on))
        if n.leads_on
    ]
    table = _table(["candidate", "val score", "leads on", "val examples"], rows, {1, 2})
    heat = heatmap_svg(data.val_ids, data.scores, data.frontier)
    return (
        "<section id='frontier'><h2>Pareto frontier</h2>"
        "<p class='muted'>Candidates that reach the best score on at least one val example."
        f"</p>{table}<h3>Per-example scores</h3><div class='scroll'>{heat}</div></section>"
    )


def _segments(segments: Sequence[tuple[bool, str]], tag: str) -> str:
    return "".join(f"<{tag}>{esc(t)}</{tag}>" if changed else esc(t) for changed, t in segments)


def _diff_row(row: DiffRow) -> str:
    if row.kind == "replace":
        left = _segments(row.left_segments, "del")
        right = _segments(row.right_segments, "ins")
    else:
        left = "" if row.left is None else esc(row.left)
        right = "" if row.right is None else esc(row.right)
    return f"<tr class='{row.kind}'><td class='l'>{left}</td><td class='r'>{right}</td></tr>"


def _diff_table(diff: ComponentDiff) -> str:
    rows = "".join(_diff_row(r) for r in diff.rows)
    state = "changed" if diff.changed else "unchanged"
    return (
        f"<h3>{esc(diff.component)} <span class='muted'>vs #{diff.parent} ({state})</span></h3>"
        f"<table class='diff'><thead><tr><th>parent #{diff.parent}</th>"
        f"<th>candidate #{diff.child}</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _candidate(node: CandidateNode, diffs: Sequence[ComponentDiff]) -> str:
    parents = ", ".join(f"<a href='#cand-{p}'>#{p}</a>" for p in node.parents) or "none (seed)"
    head = (
        f"<summary><b>#{node.index}</b> {esc(node.origin)}, val {node.score:.3f}, "
        f"parents {parents}, found at {node.metric_calls} calls"
        f"{', <b>best</b>' if node.is_best else ''}</summary>"
    )
    if diffs:
        shown = [d for d in diffs if d.changed] or list(diffs)
        body = "".join(_diff_table(d) for d in shown)
    else:
        body = "".join(
            f"<h3>{esc(name)}</h3><pre>{esc(text)}</pre>" for name, text in node.texts.items()
        )
    opened = " open" if node.is_best else ""
    return f"<details id='cand-{node.index}' class='candidate'{opened}>{head}{body}</details>"


def _candidates_section(data: ReportData) -> str:
    by_child: dict[int, list[ComponentDiff]] = {}
    for d in data.diffs:
        by_child.setdefault(d.child, []).append(d)
    items = "".join(_candidate(n, by_child.get(n.index, [])) for n in data.nodes)
    return (
        "<section id='candidates'><h2>Candidates and their changes</h2>"
        "<p class='muted'>Side-by-side diff of each candidate against its parent(s), "
        f"for the components that changed.</p>{items}</section>"
    )


def _texts(title: str, texts: Mapping[str, str]) -> str:
    return "".join(
        f"<h3>{esc(title)}: {esc(name)}</h3><pre>{esc(text)}</pre>" for name, text in texts.items()
    )


def _cand_link(index: int | None) -> str:
    return "-" if index is None else f"<a href='#cand-{index}'>#{index}</a>"


def _proposal(p: ProposalView) -> str:
    parents = ", ".join(_cand_link(i) for i in p.parents) or "-"
    scores = ""
    if p.parent_scores or p.child_scores:
        scores = (
            f"<p>Minibatch {esc(', '.join(p.minibatch_ids))}: parent "
            f"{esc([round(x, 3) for x in p.parent_scores])}, child "
            f"{esc([round(x, 3) for x in p.child_scores])}</p>"
        )
    body = (
        f"<p>{esc(p.reason)}</p>{scores}"
        f"{_texts('Reflection prompt', p.prompts)}{_texts('Raw reply', p.replies)}"
        f"{_texts('New text', p.new_texts) if p.child is None else ''}"
    )
    return (
        f"<details class='proposal' id='prop-{p.index}'><summary>"
        f"<span class='tag {esc(p.decision)}'>{esc(p.decision)}</span> proposal {p.index} "
        f"({esc(p.kind)}) from {parents} at {p.metric_calls_at} calls"
        f"{f', child {_cand_link(p.child)}' if p.child is not None else ''}"
        f" <span class='muted'>{esc(', '.join(p.components))}</span></summary>{body}</details>"
    )


def _proposals_section(data: ReportData) -> str:
    items = "".join(_proposal(p) for p in data.proposals) or "<p>No proposals.</p>"
    return (
        "<section id='proposals'><h2>Proposals</h2><p class='muted'>Each proposal with the "
        f"reflection prompt sent and the raw reply received.</p>{items}</section>"
    )


def _usage_cell(row: UsageRow) -> str:
    return "unknown" if row.cost_usd is None else f"${row.cost_usd:.4f}"


def _usage_section(data: ReportData) -> str:
    if not data.usage:
        return "<section id='usage'><h2>LM usage and cost</h2><p>No usage recorded.</p></section>"
    rows = [
        (
            esc(r.role),
            str(r.calls),
            str(r.cache_hits),
            str(r.prompt_tokens),
            str(r.completion_tokens),
            str(r.errors),
            _usage_cell(r),
        )
        for r in data.usage
    ]
    headers = ["role", "calls", "cache hits", "prompt tokens", "completion tokens", "errors"]
    table = _table([*headers, "cost (USD)"], rows, {1, 2, 3, 4, 5, 6})
    return (
        f"<section id='usage'><h2>LM usage and cost</h2>{table}<p class='muted'>Cost is "
        "unknown when a model's price is not in the price table.</p></section>"
    )


def render_html(data: ReportData) -> str:
    """The whole report page as one HTML string."""
    sections = [
        _summary(data),
        _score_section(data),
        _lineage_section(data),
        _frontier_section(data),
        _candidates_section(data),
        _proposals_section(data),
        _usage_section(data),
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(data.title)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{esc(data.title)}</h1><p class='muted'>Generated by gepakit. Sections: "
        "<a href='#summary'>summary</a> · <a href='#score'>score</a> · "
        "<a href='#lineage'>lineage</a> · <a href='#frontier'>frontier</a> · "
        "<a href='#candidates'>candidates</a> · <a href='#proposals'>proposals</a> · "
        "<a href='#usage'>usage</a></p>" + "".join(sections) + "</main></body></html>\n"
    )


def write_html(data: ReportData, path: str | Path) -> Path:
    """Write the page of `data` to `path` (parents created) and return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(data), encoding="utf-8")
    return out
