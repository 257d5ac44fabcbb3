"""Render `ReportData` as one self-contained HTML page (no network, no run-data script).

Every string that comes from a run (prompts, replies, feedback, ids, component names)
goes through `esc`. The only script is gepakit's own filter script (`FILTER_SCRIPT`):
the page's Content-Security-Policy allows exactly that script by its sha256 hash, so
even a payload that escaped `esc` could not run. Without scripts the page shows
everything, unfiltered.
"""

from __future__ import annotations

import base64
import hashlib
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from gepakit.errors import ConfigError
from gepakit.report.charts import (
    TREE_LAYOUT_MAX,
    esc,
    heatmap_rows,
    heatmap_svg,
    lineage_svg,
    score_curve_svg,
    timeline_svg,
)
from gepakit.report.data import (
    CandidateNode,
    ComponentDiff,
    DiffRow,
    ProposalView,
    ReportData,
    UsageRow,
)
from gepakit.report.details import ExampleRow, RolloutView

__all__ = ["CSP", "FILTER_SCRIPT", "render_html"]

FILTER_SCRIPT = """(function () {
  document.documentElement.classList.add("js");
  function setup(box) {
    var target = document.getElementById(box.getAttribute("data-target"));
    if (!target) { return; }
    var items = Array.prototype.slice.call(target.querySelectorAll("[data-item]"));
    var count = box.querySelector(".count");
    var search = box.querySelector("input[type=search]");
    function apply() {
      var q = search ? search.value.toLowerCase() : "";
      var shown = 0;
      var sort = box.querySelector("select[name=sort]");
      if (sort && sort.value === "score") {
        items.slice().sort(function (a, b) {
          var sa = parseFloat(a.getAttribute("data-score"));
          return parseFloat(b.getAttribute("data-score")) - sa;
        }).forEach(function (el) { el.parentNode.appendChild(el); });
      } else if (sort) {
        items.forEach(function (el) { el.parentNode.appendChild(el); });
      }
      items.forEach(function (el) {
        var ok = true;
        box.querySelectorAll("select[data-key]").forEach(function (sel) {
          var key = "data-" + sel.getAttribute("data-key");
          if (sel.value && el.getAttribute(key) !== sel.value) { ok = false; }
        });
        box.querySelectorAll("input[type=checkbox][data-key]").forEach(function (cb) {
          var key = "data-" + cb.getAttribute("data-key");
          if (cb.checked && el.getAttribute(key) !== "1") { ok = false; }
        });
        if (ok && q && el.textContent.toLowerCase().indexOf(q) < 0) { ok = false; }
        el.hidden = !ok;
        if (ok) { shown += 1; }
      });
      if (count) { count.textContent = shown + " of " + items.length + " shown"; }
    }
    var timer = null;
    box.querySelectorAll("input, select").forEach(function (input) {
      input.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(apply, 100);
      });
    });
    apply();
  }
  document.querySelectorAll(".filters").forEach(setup);
})();"""
"""gepakit's own script: search, filter and sort the candidates, proposals and examples."""

_SCRIPT_HASH = base64.b64encode(hashlib.sha256(FILTER_SCRIPT.encode("utf-8")).digest()).decode()

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    f"script-src 'sha256-{_SCRIPT_HASH}'"
)
"""Only gepakit's filter script may run; nothing is fetched from anywhere."""

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
[hidden] { display: none !important; }
svg.chart.fit { width: 100%; height: auto; }
.edge.thin { stroke-width: 0.8; opacity: 0.55; }
.cost-line { fill: none; stroke: #f79009; stroke-width: 2; stroke-dasharray: 6 4; }
.filters { display: none; flex-wrap: wrap; gap: 8px 14px; align-items: center;
  margin: 8px 0 12px; padding: 8px 10px; background: var(--bg); border-radius: 6px; }
html.js .filters { display: flex; }
.filters input[type=search] { min-width: 260px; padding: 4px 8px; }
.filters .count { color: var(--muted); margin-left: auto; }
.live { background: #eff8ff; border: 1px solid #b2ddff; border-radius: 8px;
  padding: 8px 12px; margin: 8px 0; }
table.examples { table-layout: fixed; }
table.examples td { word-break: break-word; }
table.examples pre { max-height: 160px; }
td.improved { background: #ecfdf3; } td.regressed { background: #fef3f2; }
"""


def _fmt_score(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _total_cost(data: ReportData) -> str | None:
    if not data.usage:
        return None
    total = data.usage[-1]
    if total.cost_usd is None:
        return "unknown" if total.calls else None
    return f"${total.cost_usd:.4f}"


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
    if s.get("reflection_calls") is not None:
        cards.append(("reflection calls", str(s["reflection_calls"])))
    if s.get("evaluator_errors"):
        cards.append(("evaluator errors", str(s["evaluator_errors"])))
    if data.details is not None and data.details.wall_time is not None:
        cards.append(("wall time", _duration(data.details.wall_time)))
    cost = _total_cost(data)
    if cost is not None:
        cards.append(("LM cost", cost))
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


def _seed_diff_section(data: ReportData) -> str:
    if not data.seed_diff:
        return (
            "<section id='seed-diff'><h2>Seed to best</h2><p>The seed is still the best "
            "candidate.</p></section>"
        )
    tables = "".join(_diff_table(d) for d in data.seed_diff if d.changed)
    return (
        "<section id='seed-diff'><h2>Seed to best</h2><p class='muted'>What the search "
        "changed, component by component: read it for rules that only fit the training "
        f"examples (names, numbers, quoted inputs).</p>{tables}</section>"
    )


def _score_section(data: ReportData) -> str:
    timeline = ""
    if data.details is not None and len(data.details.timeline) > 1:
        points = [(t.elapsed, t.best, t.cost_usd) for t in data.details.timeline]
        timeline = (
            "<h3>Over time</h3>"
            f"<div class='scroll'>{timeline_svg(points)}</div><p class='muted'>Line: best "
            "mean val score at each proposal. Dashed: cumulative LM cost, where the models' "
            "prices are known.</p>"
        )
    return (
        "<section id='score'><h2>Best val score against metric calls</h2>"
        f"<div class='scroll'>{score_curve_svg(data.curve, data.summary['max_metric_calls'])}"
        "</div><p class='muted'>Line: best mean val score so far. Dots: each candidate when it "
        f"joined the pool (click to jump to it).</p>{timeline}</section>"
    )


def _lineage_section(data: ReportData) -> str:
    if len(data.nodes) > TREE_LAYOUT_MAX:
        return (
            "<section id='lineage'><h2>Lineage</h2>"
            "<p class='legend muted'><span>dot: a candidate, placed by order of discovery "
            "and val score</span><span>line: parent to child (dashed: merge)</span>"
            "<span>large ring: best</span><span>dark outline: on the Pareto frontier</span>"
            f"</p>{lineage_svg(data.nodes, data.edges)}</section>"
        )
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
    if not rows:
        table = "<p>No candidate leads on any example yet.</p>"
    tied = data.summary.get("tied_examples", 0)
    tied_note = (
        f" {tied} val examples on which every candidate scores the same are not counted."
        if tied
        else ""
    )
    leaders = sorted((n for n in data.nodes if n.leads_on), key=lambda n: -len(n.leads_on))
    keep = [0, data.summary["best_index"], *(n.index for n in leaders)]
    shown = heatmap_rows(len(data.scores), keep)
    heat = heatmap_svg(data.val_ids, data.scores, data.frontier, shown)
    rows_note = (
        f"<p class='muted'>Showing {len(shown)} of {len(data.scores)} candidates: the seed, "
        "the best and the frontier.</p>"
        if len(shown) < len(data.scores)
        else ""
    )
    return (
        "<section id='frontier'><h2>Pareto frontier</h2>"
        "<p class='muted'>Candidates that reach the best score on at least one val example "
        f"where some other candidate scores lower.{tied_note}</p>{table}"
        f"<h3>Per-example scores</h3>{rows_note}<div class='scroll'>{heat}</div></section>"
    )


def _filters(target: str, *controls: str) -> str:
    return (
        f"<div class='filters' data-target='{target}'>"
        "<input type='search' placeholder='search text, ids, feedback' aria-label='search'>"
        f"{''.join(controls)}<span class='count'></span></div>"
    )


def _select(key: str, label: str, options: Iterable[str]) -> str:
    opts = "".join(f"<option value='{esc(o)}'>{esc(o)}</option>" for o in options)
    return (
        f"<label>{esc(label)} <select data-key='{key}'><option value=''>all</option>"
        f"{opts}</select></label>"
    )


def _checkbox(key: str, label: str) -> str:
    return f"<label><input type='checkbox' data-key='{key}'> {esc(label)}</label>"


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
    score = node.score if math.isfinite(node.score) else -1e300
    attrs = (
        f"data-item data-origin='{esc(node.origin)}' data-frontier='{int(bool(node.leads_on))}' "
        f"data-score='{score!r}'"
    )
    return (
        f"<details id='cand-{node.index}' class='candidate' {attrs}{opened}>{head}{body}</details>"
    )


def _candidates_section(data: ReportData) -> str:
    by_child: dict[int, list[ComponentDiff]] = {}
    for d in data.diffs:
        by_child.setdefault(d.child, []).append(d)
    items = "".join(_candidate(n, by_child.get(n.index, [])) for n in data.nodes)
    filters = _filters(
        "candidate-list",
        _select("origin", "origin", sorted({n.origin for n in data.nodes})),
        _checkbox("frontier", "on the frontier"),
        "<label>sort <select name='sort'><option value='index'>by discovery</option>"
        "<option value='score'>by val score</option></select></label>",
    )
    return (
        "<section id='candidates'><h2>Candidates and their changes</h2>"
        "<p class='muted'>Side-by-side diff of each candidate against its parent(s), "
        f"for the components that changed.</p>{filters}"
        f"<div id='candidate-list'>{items}</div></section>"
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
        f"<details class='proposal' id='prop-{p.index}' data-item "
        f"data-decision='{esc(p.decision)}' data-kind='{esc(p.kind)}'><summary>"
        f"<span class='tag {esc(p.decision)}'>{esc(p.decision)}</span> proposal {p.index} "
        f"({esc(p.kind)}) from {parents} at {p.metric_calls_at} calls"
        f"{f', child {_cand_link(p.child)}' if p.child is not None else ''}"
        f" <span class='muted'>{esc(', '.join(p.components))}</span></summary>{body}</details>"
    )


def _proposals_section(data: ReportData) -> str:
    items = "".join(_proposal(p) for p in data.proposals) or "<p>No proposals.</p>"
    filters = _filters(
        "proposal-list",
        _select("decision", "decision", sorted({p.decision for p in data.proposals})),
        _select("kind", "kind", sorted({p.kind for p in data.proposals})),
    )
    return (
        "<section id='proposals'><h2>Proposals</h2><p class='muted'>Each proposal with the "
        f"reflection prompt sent and the raw reply received.</p>{filters}"
        f"<div id='proposal-list'>{items}</div></section>"
    )


def _result_cell(view: RolloutView | None, change: str) -> str:
    if view is None:
        return "<td>-</td>"
    error = f"<p><b>error:</b> {esc(view.error)}</p>" if view.error else ""
    feedback = f"<pre>{esc(view.feedback)}</pre>" if view.feedback else ""
    return (
        f"<td class='{esc(change)}'><b>{view.score:.3f}</b>{error}"
        f"<pre>{esc(view.output)}</pre>{feedback}</td>"
    )


def _example_row(row: ExampleRow) -> str:
    change = row.change
    return (
        f"<tr data-item data-change='{change}'><td>{esc(row.example_id)}"
        f"<br><span class='muted'>{esc(change)}</span></td><td><pre>{esc(row.inputs)}</pre></td>"
        f"{_result_cell(row.seed, '')}{_result_cell(row.best, change)}</tr>"
    )


def _examples_section(data: ReportData) -> str:
    if data.details is None:
        return (
            "<section id='examples'><h2>Examples: seed against best</h2><p class='muted'>"
            "Outputs and feedback per example come from the run store; report on a run "
            "directory to see them.</p></section>"
        )
    rows = data.details.examples
    counts = {c: sum(r.change == c for r in rows) for c in ("improved", "regressed", "same")}
    summary = ", ".join(f"{n} {c}" for c, n in counts.items())
    body = "".join(_example_row(r) for r in rows)
    best = data.summary["best_index"]
    table = (
        "<table class='examples'><colgroup><col style='width:12%'><col style='width:28%'>"
        "<col style='width:30%'><col style='width:30%'></colgroup><thead><tr>"
        f"<th>example</th><th>input</th><th>seed #0</th><th>best #{best}</th></tr></thead>"
        f"<tbody id='example-list'>{body}</tbody></table>"
    )
    filters = _filters("example-list", _select("change", "best vs seed", sorted(counts)))
    return (
        "<section id='examples'><h2>Examples: seed against best</h2><p class='muted'>"
        f"Every val example with the output and feedback of the seed and of the best "
        f"candidate ({summary}).</p>{filters}<div class='scroll'>{table}</div></section>"
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


SECTIONS = (
    ("summary", "summary"),
    ("seed-diff", "seed to best"),
    ("score", "score"),
    ("lineage", "lineage"),
    ("frontier", "frontier"),
    ("examples", "examples"),
    ("candidates", "candidates"),
    ("proposals", "proposals"),
    ("usage", "usage"),
)


def _live_banner(refresh: float | None) -> str:
    if refresh is None:
        return ""
    stamp = time.strftime("%H:%M:%S")
    return (
        f"<p class='live' id='live'>Live view: the run is still going. Updated at {stamp}; "
        f"this page reloads every {refresh:g} s.</p>"
    )


def render_html(data: ReportData, *, refresh: float | None = None) -> str:
    """The whole report page as one HTML string.

    Args:
        data: from `build_report_data`.
        refresh: reload the page every this many seconds (the live view of a running
            run, see ``gepakit watch``); None for a finished report.
    """
    sections = [
        _summary(data),
        _seed_diff_section(data),
        _score_section(data),
        _lineage_section(data),
        _frontier_section(data),
        _examples_section(data),
        _candidates_section(data),
        _proposals_section(data),
        _usage_section(data),
    ]
    reload = f"<meta http-equiv='refresh' content='{refresh:g}'>" if refresh is not None else ""
    nav = " · ".join(f"<a href='#{key}'>{label}</a>" for key, label in SECTIONS)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">{reload}"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(data.title)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{esc(data.title)}</h1>{_live_banner(refresh)}<p class='muted'>Generated by "
        f"gepakit. Sections: {nav}</p>" + "".join(sections) + "</main>"
        f"<script>{FILTER_SCRIPT}</script></body></html>\n"
    )


def write_html(data: ReportData, path: str | Path, *, refresh: float | None = None) -> Path:
    """Write the page of `data` to `path` (parents created) and return the path.

    The page is written to a temporary file and renamed, so a browser reloading it
    (the live view) never reads half a page.

    Raises:
        ConfigError: `path` is a directory.
    """
    out = Path(path)
    if out.is_dir():
        raise ConfigError(f"{out} is a directory; give the path of the HTML file to write")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(render_html(data, refresh=refresh), encoding="utf-8")
    tmp.replace(out)
    return out
