"""`gepakit status`, `export` and `resume` on a stored run."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gepakit
from gepakit.cli.main import app
from gepakit.testing import ToyTask
from store import fake_task  # tests/store, on sys.path via pytest rootdir insertion

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("run")
    gepakit.optimize(
        fake_task.SEED,
        fake_task.TRAIN,
        fake_task.VAL,
        evaluator=fake_task.Evaluator(),
        reflection_lm=fake_task.reflection(),
        max_metric_calls=80,
        run_dir=path,
    )
    return path


def test_status_shows_budget_candidates_best_and_events(run_dir: Path) -> None:
    out = runner.invoke(app, ["status", str(run_dir)])
    assert out.exit_code == 0, out.output
    result = gepakit.load_run(run_dir)
    assert f"{result.total_metric_calls} / 80 metric calls" in out.output
    assert f"val score {result.best_score:.4g}" in out.output
    assert "run_finished" in out.output
    data = json.loads(runner.invoke(app, ["status", str(run_dir), "--json"]).output)
    assert data["num_candidates"] == result.num_candidates


def test_export_json_is_the_result_and_csv_has_one_row_per_rollout(
    run_dir: Path, tmp_path: Path
) -> None:
    out = runner.invoke(app, ["export", str(run_dir), "--format", "json"])
    assert out.exit_code == 0, out.output
    exported = gepakit.Result.from_json(out.output)
    assert exported.candidates == gepakit.load_run(run_dir).candidates
    target = tmp_path / "rollouts.csv"
    out = runner.invoke(app, ["export", str(run_dir), "--format", "csv", "-o", str(target)])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert sum(r["paid"] == "1" for r in rows) == exported.total_metric_calls
    assert {r["split"] for r in rows} == {"train", "val"}
    bad = runner.invoke(app, ["export", str(run_dir), "--format", "xml"])
    assert bad.exit_code == 2


def test_csv_export_numbers_the_draws_of_repeated_evaluations(tmp_path: Path) -> None:
    task = ToyTask(num_rules=3)
    gepakit.optimize(
        task.seed_candidate, task.trainset, task.valset, evaluator=task.evaluate,
        reflection_lm=task.reflect, max_metric_calls=60, eval_repeats=2,
        run_dir=tmp_path / "run", progress=False,
    )  # fmt: skip
    target = tmp_path / "rollouts.csv"
    args = ["export", str(tmp_path / "run"), "--format", "csv", "-o", str(target)]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    val_ids = {e["id"] for e in task.valset}
    seed_val = [r for r in rows if r["split"] == "val" and r["candidate_index"] == "0"]
    assert sorted((r["example_id"], r["draw"]) for r in seed_val) == sorted(
        (e, d) for e in val_ids for d in ("0", "1")
    )


def test_resume_of_a_python_api_run_explains_how(run_dir: Path) -> None:
    out = runner.invoke(app, ["resume", str(run_dir)])
    assert out.exit_code == 2
    assert "same run_dir" in out.output


def test_commands_on_a_missing_run_fail_clearly(tmp_path: Path) -> None:
    for cmd in ("status", "export", "resume"):
        out = runner.invoke(app, [cmd, str(tmp_path / "nope")])
        assert out.exit_code == 4  # StoreError (gepakit.cli.errors)
        assert "no gepakit run" in out.output
