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


def test_resume_of_a_python_api_run_explains_how(run_dir: Path) -> None:
    out = runner.invoke(app, ["resume", str(run_dir)])
    assert out.exit_code == 2
    assert "same run_dir" in out.output


def test_commands_on_a_missing_run_fail_clearly(tmp_path: Path) -> None:
    for cmd in ("status", "export", "resume"):
        out = runner.invoke(app, [cmd, str(tmp_path / "nope")])
        assert out.exit_code == 4  # StoreError (gepakit.cli.errors)
        assert "no gepakit run" in out.output
