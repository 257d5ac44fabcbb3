"""`Result`: derived properties, lineage and the JSON round trip."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from gepakit import Result, optimize
from gepakit.testing import ToyTask


@pytest.fixture(scope="module")
def result() -> Result:
    task = ToyTask(num_rules=4, components=("a", "b"))
    return optimize(
        task.seed_candidate,
        task.trainset,
        task.valset,
        evaluator=task.evaluate,
        reflection_lm=task.reflect,
        max_metric_calls=150,
        track_best_outputs=True,
    )


def test_json_round_trip(result: Result, tmp_path: Path) -> None:
    text = result.to_json()
    again = Result.from_json(text)
    assert again.to_dict() == result.to_dict()
    assert again.best_candidate == result.best_candidate
    assert again.proposals == result.proposals
    path = tmp_path / "result.json"
    result.to_json(path)
    assert Result.from_json(path).to_dict() == result.to_dict()
    assert Result.from_json(str(path)).to_dict() == result.to_dict()


def test_to_dict_is_plain_json(result: Result) -> None:
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["schema_version"] == 1
    assert data["best_idx"] == result.best_idx
    assert data["best_score"] == result.best_score


def test_unknown_schema_version_is_refused(result: Result) -> None:
    data = result.to_dict()
    data["schema_version"] = 999
    with pytest.raises(ValueError, match="schema_version"):
        Result.from_dict(data)


def test_best_lineage_and_counts(result: Result) -> None:
    assert result.best_score == max(result.val_aggregate_scores)
    assert result.val_aggregate_scores[result.best_idx] == result.best_score
    assert result.num_candidates == len(result.candidates) == result.num_full_val_evals
    assert result.origins[0] == "seed" and result.parents[0] == ()
    path = result.lineage()
    assert path[0] == 0 and path[-1] == result.best_idx
    for child, parent in zip(path[1:], path, strict=False):
        assert result.parents[child][0] == parent
    assert result.lineage(0) == [0]


def test_best_idx_takes_the_earliest_on_ties() -> None:
    tied = Result(
        candidates=({"p": "a"}, {"p": "b"}, {"p": "c"}),
        parents=((), (0,), (0,)),
        origins=("seed", "reflection", "reflection"),
        val_aggregate_scores=(0.5, 0.9, 0.9),
        val_subscores=({"v": 0.5}, {"v": 0.9}, {"v": 0.9}),
        per_val_instance_best_candidates={"v": frozenset({1, 2})},
        discovery_eval_counts=(1, 5, 9),
        total_metric_calls=9,
        num_full_val_evals=3,
    )
    assert tied.best_idx == 1
    assert tied.best_candidate == {"p": "b"}
    assert Result.from_json(tied.to_json()).to_dict() == tied.to_dict()


def test_repr_fits_on_one_screen(result: Result) -> None:
    big = dataclasses.replace(
        result,
        candidates=tuple({"a": "rule " * 5000, "b": "x\n" * 3000} for _ in result.candidates),
    )
    text = repr(big)
    lines = text.splitlines()
    assert len(lines) <= 24 and max(len(line) for line in lines) <= 200
    assert f"best_score={result.best_score:.4g}" in text
    assert f"metric calls {result.total_metric_calls}/150" in text
    assert "'a': 'rule rule" in text and "..." in text


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_scores_give_valid_json(result: Result, bad: float) -> None:
    scores = (bad, *result.val_aggregate_scores[1:])
    first = {k: bad for k in result.val_subscores[0]}
    odd = dataclasses.replace(
        result, val_aggregate_scores=scores, val_subscores=(first, *result.val_subscores[1:])
    )
    text = odd.to_json()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"invalid JSON constant {name}"))
    again = Result.from_json(text)
    assert math.isnan(again.val_aggregate_scores[0]) == math.isnan(bad)
    if not math.isnan(bad):
        assert again.val_aggregate_scores[0] == bad
        assert set(again.val_subscores[0].values()) == {bad}
