"""Tests of `gepakit demo`: the CLI wiring and display (fast) and a real tiny run (slow)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

import gepakit.demo
from gepakit.cli.demo import register
from gepakit.demo import DemoResult, print_demo_result, run_demo
from gepakit.errors import ConfigError, MissingExtraError


def _demo_result(tmp_path: Path) -> DemoResult:
    return DemoResult(
        seed_prompt="Classify the intent of the utterance.",
        optimized_prompt="Answer with one label: [play_music] or get_weather.",
        seed_test_accuracy=0.02,
        optimized_test_accuracy=0.7,
        seed_val_score=0.0,
        optimized_val_score=0.73,
        metric_calls=250,
        budget=260,
        num_candidates=4,
        usage={"task": {"calls": 250, "prompt_tokens": 9000, "completion_tokens": 900}},
        run_dir=tmp_path,
        optimize_seconds=400.0,
        total_seconds=470.0,
        stop_reason="timeout of 400s reached",
    )


def test_print_demo_result_shows_prompts_accuracy_calls_and_usage(tmp_path: Path) -> None:
    out = io.StringIO()
    print_demo_result(_demo_result(tmp_path), Console(file=out, width=200))
    text = out.getvalue()
    assert "Answer with one label: [play_music] or get_weather." in text  # no markup eaten
    assert "2.0%" in text
    assert "70.0%" in text
    assert "250 of 260" in text
    assert "Stopped: timeout of 400s reached." in text  # why calls were left
    assert "task: 250 calls, 9000 prompt + 900 completion tokens" in text
    assert str(tmp_path) in text


def test_demo_result_to_dict_is_json(tmp_path: Path) -> None:
    data = json.loads(json.dumps(_demo_result(tmp_path).to_dict()))
    assert data["optimized_test_accuracy"] == 0.7
    assert data["run_dir"] == str(tmp_path)


def test_cli_command_passes_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(gepakit.demo, "run_demo", lambda **kw: calls.append(kw))
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command keeps typer from collapsing to one command
        """Unused."""

    args = ["demo", "--budget", "50", "--workers", "2", "--run-dir", str(tmp_path), "--seed", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert calls == [{"budget": 50, "workers": 2, "run_dir": tmp_path, "seed": 3}]


def test_budget_below_val_size_is_rejected_before_any_lm_call() -> None:
    with pytest.raises(ConfigError, match="budget 10"):
        run_demo(budget=10, n_val=30, show=False)


@pytest.mark.slow
@pytest.mark.local_model
def test_tiny_demo_run_with_local_models(tmp_path: Path) -> None:
    out = io.StringIO()
    try:
        demo = run_demo(
            budget=20,
            workers=2,
            n_train=3,
            n_val=5,
            n_test=5,
            run_dir=tmp_path / "run",
            console=Console(file=out, width=160),
        )
    except MissingExtraError as exc:  # includes missing model wheels
        pytest.skip(f"local models not installed: {exc}")
    assert 5 <= demo.metric_calls <= 20
    assert 0.0 <= demo.seed_test_accuracy <= 1.0
    assert 0.0 <= demo.optimized_test_accuracy <= 1.0
    assert demo.optimized_val_score >= demo.seed_val_score
    task, test = demo.usage["task"], demo.usage["test"]
    assert task["calls"] == demo.metric_calls  # one task completion per metric call
    assert task["prompt_tokens"] > 0 and task["completion_tokens"] > 0
    assert test["calls"] == 10  # seed and optimized prompt on 5 test examples
    assert demo.usage["reflection"]["calls"] >= 1
    saved = json.loads((tmp_path / "run" / "demo.json").read_text(encoding="utf-8"))
    assert saved["metric_calls"] == demo.metric_calls
    assert (tmp_path / "run" / "result.json").is_file()
    assert "Seed vs optimized prompt" in out.getvalue()
