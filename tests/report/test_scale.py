"""The report at scale: 500 candidates stay readable (layout, frontier, heatmap rows)."""

from __future__ import annotations

import re

from gepakit import Result
from gepakit.report import build_report_data, render_html
from gepakit.report.charts import HEATMAP_MAX_ROWS, TREE_LAYOUT_MAX, heatmap_rows


def test_examples_every_candidate_ties_on_lead_nowhere(large_result: Result) -> None:
    data = build_report_data(large_result)
    tied = [e for e in data.frontier if not e.discriminating]
    assert {e.example_id for e in tied} == {f"v{k:03d}" for k in range(10)}
    assert data.summary["tied_examples"] == 10
    for node in data.nodes:
        assert not set(node.leads_on) & {e.example_id for e in tied}
    # The seed only scores on examples every candidate solves: it is not on the frontier.
    assert data.nodes[0].leads_on == ()
    assert data.summary["frontier_size"] == sum(bool(n.leads_on) for n in data.nodes)


def test_lineage_of_500_candidates_has_a_fixed_width(large_result: Result) -> None:
    page = render_html(build_report_data(large_result))
    svg = re.search(r'<svg class="chart fit" id="lineage-chart" viewBox="0 0 (\d+) (\d+)"', page)
    assert svg is not None and int(svg.group(1)) <= 1100
    assert page.count('class="edge thin edge-merge"') == 2 * (500 // 25 - 0) - 2  # merges
    assert len(re.findall(r'<a href="#cand-\d+"><g class="node', page)) == 500


def test_small_runs_keep_the_tree_layout(merge_result: Result) -> None:
    assert merge_result.num_candidates <= TREE_LAYOUT_MAX
    page = render_html(build_report_data(merge_result))
    assert '<svg class="chart" id="lineage-chart"' in page


def test_heatmap_rows_are_limited_to_seed_best_and_frontier(large_result: Result) -> None:
    data = build_report_data(large_result)
    page = render_html(data)
    heat = page.split('id="heatmap"')[1].split("</svg>")[0]
    rows = re.findall(
        r'<text class="tick" x="\d+" y="[\d.]+" text-anchor="end">#(\d+)</text>', heat
    )
    assert 0 < len(rows) <= HEATMAP_MAX_ROWS
    assert "0" in rows and str(data.summary["best_index"]) in rows
    assert f"Showing {len(rows)} of 500 candidates" in page
    assert heatmap_rows(10, [3]) == list(range(10))


def test_seed_to_best_diff(large_result: Result) -> None:
    data = build_report_data(large_result)
    assert data.seed_diff and data.seed_diff[0].parent == 0
    assert data.seed_diff[0].child == large_result.best_idx
    changed = [d for d in data.seed_diff if d.changed]
    assert [d.component for d in changed] == ["instructions"]
    assert any(r.kind == "insert" for r in changed[0].rows)
