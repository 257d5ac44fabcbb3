"""The report's plain data, checked without a browser."""

from __future__ import annotations

from pathlib import Path

import pytest

from gepakit import ConfigError, Result
from gepakit.report import build_report_data, load_result
from gepakit.report.data import diff_rows


def test_curve_is_best_so_far_over_discovery_calls(merge_result: Result) -> None:
    data = build_report_data(merge_result)
    assert [p.metric_calls for p in data.curve] == [3, 12, 24, 33]
    assert [p.candidate for p in data.curve] == [0, 1, 2, 3]
    bests = [p.best for p in data.curve]
    assert bests == sorted(bests)
    assert bests[-1] == pytest.approx(2.5 / 3)


def test_lineage_edges_mark_merges(merge_result: Result) -> None:
    data = build_report_data(merge_result)
    edges = {(e.parent, e.child, e.kind) for e in data.edges}
    assert edges == {(0, 1, "reflection"), (0, 2, "reflection"), (1, 3, "merge"), (2, 3, "merge")}
    assert [n.depth for n in data.nodes] == [0, 1, 1, 2]
    assert [n.is_best for n in data.nodes] == [False, False, False, True]


def test_rejected_proposals_counted_on_their_parent(merge_result: Result) -> None:
    data = build_report_data(merge_result)
    assert [n.rejected for n in data.nodes] == [1, 0, 0, 0]
    assert data.decisions == {"accepted": 3, "rejected": 1}
    rejected = data.proposals[1]
    assert rejected.parents == (0,) and rejected.child is None
    assert data.proposals[3].parents == (1, 2) and data.proposals[3].child == 3


def test_frontier_and_heatmap(merge_result: Result) -> None:
    data = build_report_data(merge_result)
    assert data.val_ids == ("x", "y", "z")
    assert {e.example_id: e.leaders for e in data.frontier} == {
        "x": (1, 3),
        "y": (2, 3),
        "z": (0, 1),
    }
    assert data.nodes[3].leads_on == ("x", "y")
    assert data.summary["frontier_size"] == 4
    assert data.scores[3] == (1.0, 1.0, 0.5)


def test_diffs_against_each_parent(merge_result: Result) -> None:
    data = build_report_data(merge_result)
    changed = {(d.child, d.parent, d.component) for d in data.diffs if d.changed}
    assert changed == {(1, 0, "a"), (2, 0, "b"), (3, 1, "b"), (3, 2, "a")}
    diff = next(d for d in data.diffs if (d.child, d.component) == (1, "a"))
    (row,) = diff.rows
    assert row.kind == "replace"
    assert row.right_segments == ((False, "alpha"), (True, " one"))


def test_diff_rows_line_kinds() -> None:
    rows = diff_rows("keep\nold line\ngone", "keep\nnew line\nadded\nmore")
    assert [r.kind for r in rows] == ["equal", "replace", "replace", "insert"]
    assert rows[0].left == rows[0].right == "keep"
    assert "".join(t for _, t in rows[1].left_segments) == "old line"
    assert "".join(t for _, t in rows[1].right_segments) == "new line"
    assert rows[3].left is None and rows[3].right == "more"
    assert [r.kind for r in diff_rows("a\nb", "a")] == ["equal", "delete"]


def test_usage_rows_with_total(merge_result: Result) -> None:
    data = build_report_data(merge_result)
    roles = {r.role: r for r in data.usage}
    assert set(roles) == {"task", "reflection", "total"}
    assert roles["total"].prompt_tokens == 2100
    assert roles["task"].cost_usd == 0.01
    assert roles["total"].cost_usd is None  # one role's price is unknown


def test_real_run(run_result: Result) -> None:
    data = build_report_data(run_result)
    assert len(data.nodes) == run_result.num_candidates
    assert data.summary["best_score"] == run_result.best_score
    assert len(data.proposals) == len(run_result.proposals)
    accepted = [p for p in data.proposals if p.decision == "accepted"]
    assert {p.child for p in accepted} == set(range(1, run_result.num_candidates))
    assert all(p.prompts and p.replies for p in accepted)


def test_load_result_from_json_file_and_run_dir(merge_result: Result, tmp_path: Path) -> None:
    merge_result.to_json(tmp_path / "result.json")
    assert load_result(tmp_path / "result.json").candidates == merge_result.candidates
    assert load_result(tmp_path).candidates == merge_result.candidates
    assert load_result(merge_result) is merge_result


def test_load_result_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither a run directory"):
        load_result(tmp_path / "missing")
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 999}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.json"):
        load_result(bad)


def test_load_result_from_a_run_store(tmp_path: Path) -> None:
    import gepakit

    from .conftest import _evaluate

    data = [{"id": f"e{i}", "label": "abcd"[i % 4]} for i in range(8)]
    result = gepakit.optimize(
        {"p": "Labels: [a]"}, data[:4], data[4:], evaluator=_evaluate,
        reflection_lm=lambda _: "```\nLabels: [a] [b]\n```", max_metric_calls=30,
        run_dir=tmp_path / "run", progress=False,
    )  # fmt: skip
    loaded = load_result(tmp_path / "run")
    assert loaded.candidates == result.candidates
    assert len(loaded.proposals) == len(result.proposals)
