"""benchmarks/gepa_compare.py: the search grid and the concurrency table, on tiny settings."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    path = ROOT / "benchmarks" / "gepa_compare.py"
    spec = importlib.util.spec_from_file_location("gepa_compare", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gc = _load()


@pytest.fixture(autouse=True)
def _logging_back_on() -> Iterator[None]:
    """gepa_compare's runs silence INFO logging process-wide (logging.disable): undo it,
    or later tests that read the gepakit log (test_gepa_compat) see nothing."""
    yield
    logging.disable(logging.NOTSET)


def test_new_merged_counts_only_merges_with_texts_no_earlier_candidate_has() -> None:
    cands = [{"a": "x"}, {"a": "y"}, {"a": "z"}, {"a": "y"}, {"a": "w"}]
    parents = [[None], [0], [0], [1, 2], [1, 2]]
    assert gc._new_merged(cands, parents) == 1  # candidate 3 repeats candidate 1


def test_concurrency_table_runs_every_k_on_the_same_seeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "conc.json"
    gc.main(
        [
            "concurrency", "--quick", "--seeds", "2", "--time-scale", "0.005",
            "--quality-budget", "90", "--useful", "0.2", "--out", str(out),
        ]
    )  # fmt: skip
    saved = json.loads(out.read_text())
    (task,) = saved["tasks"].values()
    rows = {row[0]: row for row in task["rows"]}
    assert set(rows) == {"K=1", "K=4"}
    assert all(row[1] <= 90 for row in rows.values())  # mean metric calls within budget
    assert rows["K=1"][7] == 1.0  # wall relative to K=1
    assert "low acceptance (20% useful)" in capsys.readouterr().out


def test_tradeoff_keywords_in_the_other_part_cost_score_and_base_floors_it() -> None:
    from keyword_task import KeywordTask

    task = KeywordTask(components=("a", "b"), tradeoff=0.1, base=0.2, num_keywords=4, needs=2)
    example = {"id": "x", "needs": ["kw000", "kw001"], "part": "a"}
    half = {"a": "kw000", "b": "Answer."}
    assert task.rollout(half, example)[0] == pytest.approx(0.2 + 0.8 * 0.5)
    crowded = {"a": "kw000", "b": "kw002 kw003 text"}  # two keywords in the other part
    assert task.rollout(crowded, example)[0] == pytest.approx(0.6 - 0.2)
    assert task.rollout({"a": "none", "b": "Answer."}, example)[0] == pytest.approx(0.2)
    assert KeywordTask(components=("a", "b")).rollout(crowded, example)[0] == 0.5


def test_grid_runs_only_the_scenarios_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "grid.json"
    gc.main(["grid", "--quick", "--seeds", "1", "--scenario", "tradeoff", "--out", str(out)])
    saved = json.loads(out.read_text())
    (label,) = saved["scenarios"]
    assert label.startswith("merge, trade-off")
    assert "merge, trade-off" in capsys.readouterr().out


def test_grid_refuses_an_unknown_scenario() -> None:
    with pytest.raises(SystemExit, match="unknown tradeof"):
        gc.main(["grid", "--quick", "--seeds", "1", "--scenario", "tradeof"])


def test_concurrency_runs_toy_tasks_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "toy.json"
    gc.main(
        [
            "concurrency", "--quick", "--seeds", "2", "--time-scale", "0.005",
            "--quality-budget", "120", "--useful", "", "--toy", "6x2", "--out", str(out),
        ]
    )  # fmt: skip
    (label,) = json.loads(out.read_text())["tasks"]
    assert label.startswith("ToyTask, 6 rules in 2 component(s)")
    rows = {row[0]: row for row in json.loads(out.read_text())["tasks"][label]["rows"]}
    assert set(rows) == {"K=1", "K=4"}
    assert all(row[1] <= 120 and row[2] > 0 for row in rows.values())  # calls, reflections
    assert "ToyTask" in capsys.readouterr().out


def test_kquality_pairs_k_against_serial_on_each_cell(capsys: pytest.CaptureFixture[str]) -> None:
    cells = "kw20:30:60,rw20:30:60"
    gc.main(["kquality", "--seeds", "2", "--cells", cells, "--processes", "1"])
    out = capsys.readouterr().out
    assert "f. K=4 vs K=1 at equal metric calls" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "60" in line]
    assert [r.split("|")[1].strip() for r in rows] == ["keyword, 20% useful", "rewrite, 20% useful"]


def test_rewrite_reorders_useless_proposals_too() -> None:
    from keyword_task import KeywordTask

    task = KeywordTask(useful=0.0, rewrite=True, seed=1)
    text = "one two three four five six seven eight"
    words = task.propose({"instruction": text}, {"instruction": []}, ["instruction"])[
        "instruction"
    ].split()
    (added,) = [w for w in words if w.startswith("zz")]  # the word nobody needs
    assert sorted(words) == sorted([*text.split(), added])
    assert words != [*text.split(), added]  # reordered, not just appended
