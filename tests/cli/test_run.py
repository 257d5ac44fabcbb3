"""`gepakit run config.toml`: a scripted run, clear errors, documented fields."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from gepakit.cli.main import app
from gepakit.config import FIELDS
from test_config import BASE, write_project  # tests/ is on sys.path (rootdir-relative)


def test_run_writes_result_and_report(tmp_path: Path) -> None:
    path = write_project(tmp_path)
    result = CliRunner().invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Best val score 1.0000" in result.output
    assert (tmp_path / "out" / "result.json").is_file()
    assert (tmp_path / "out" / "report.html").is_file()


def test_run_config_error_exit_code(tmp_path: Path) -> None:
    path = write_project(tmp_path, BASE.replace("max_metric_calls = 60", ""))
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2
    assert "field 'max_metric_calls'" in result.output


def test_help_documents_every_field() -> None:
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in FIELDS:
        assert f"{name}:" in result.output
    assert "[program]" in result.output


def test_resume_reruns_a_config_run_from_its_run_dir(tmp_path: Path) -> None:
    path = write_project(tmp_path)
    first = CliRunner().invoke(app, ["run", str(path), "--no-progress"])
    assert first.exit_code == 0, first.output
    before = (tmp_path / "out" / "result.json").read_text()
    again = CliRunner().invoke(app, ["resume", str(tmp_path / "out")])
    assert again.exit_code == 0, again.output
    assert "Resumed: best val score 1.0000" in again.output
    # A finished run replays from the store: same result, no new metric call.
    assert (tmp_path / "out" / "result.json").read_text() == before


def test_help_lists_the_draw_options_with_their_docs() -> None:
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "eval_repeats: a positive integer, default 1. Evaluate each" in text
    assert "reuse_evaluations: true or false, default true. Serve a" in text
