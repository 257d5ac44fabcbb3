"""optimize's run-visibility options: quiet, overwrite, the finished-rerun hint, failures."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import gepakit
from gepakit import ConfigError, EvaluatorError
from gepakit.run_state import run_state
from gepakit.testing import ToyTask

TASK = ToyTask(num_rules=3)


def _run(**options: Any) -> gepakit.Result:
    return gepakit.optimize(
        TASK.seed_candidate, TASK.trainset, TASK.valset, evaluator=TASK.evaluate,
        reflection_lm=TASK.reflect, **{"max_metric_calls": 60, "progress": False, **options},
    )  # fmt: skip


def test_quiet_logs_no_progress_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gepakit")
    _run(quiet=True)
    assert not [r for r in caplog.records if r.getMessage().startswith("proposal ")]
    _run()
    assert [r for r in caplog.records if r.getMessage().startswith("proposal ")]
    with pytest.raises(ConfigError, match="quiet=True and progress=True"):
        _run(quiet=True, progress=True)
    with pytest.raises(ConfigError, match="quiet"):
        _run(quiet="yes")


def test_rerun_hint_and_overwrite(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run_dir = tmp_path / "run"
    first = _run(run_dir=run_dir)
    assert run_state(run_dir).kind == "finished"
    assert "already held a finished run" not in caplog.text
    again = _run(run_dir=run_dir)
    assert again.total_metric_calls == first.total_metric_calls
    assert "already held a finished run: this is its stored result" in caplog.text
    assert "overwrite=True" in caplog.text
    caplog.clear()
    fresh = _run(run_dir=run_dir, overwrite=True)
    assert "already held" not in caplog.text
    assert "the previous run in" in caplog.text and "was moved to" in caplog.text
    (old,) = tmp_path.glob("run.old-*")
    assert gepakit.load_run(old).total_metric_calls == first.total_metric_calls
    assert fresh.total_metric_calls == first.total_metric_calls  # paid again from zero
    with pytest.raises(ConfigError, match="overwrite=True needs a run_dir"):
        _run(overwrite=True)


def test_status_says_failed_after_an_evaluator_error(tmp_path: Path) -> None:
    def broken(candidate: dict[str, str], example: dict[str, Any]) -> float:
        raise RuntimeError("evaluator exploded")

    with pytest.raises(EvaluatorError):
        gepakit.optimize(
            TASK.seed_candidate, TASK.trainset, TASK.valset, evaluator=broken,
            reflection_lm=TASK.reflect, max_metric_calls=60, progress=False,
            run_dir=tmp_path / "run",
        )  # fmt: skip
    state = run_state(tmp_path / "run")
    assert state.kind == "failed" and "evaluator failed on every val example" in state.detail
    _run(run_dir=tmp_path / "run", overwrite=True)
    assert run_state(tmp_path / "run").kind == "finished"


def test_optimize_docstring_covers_every_parameter() -> None:
    import inspect
    import re

    doc = inspect.getdoc(gepakit.optimize) or ""
    documented = set(re.findall(r"^ {4}(\w+)(?: / (\w+))?(?: / (\w+))?:", doc, re.MULTILINE))
    names = {n for group in documented for n in group if n}
    missing = set(inspect.signature(gepakit.optimize).parameters) - names
    assert not missing, f"optimize's docstring does not document {sorted(missing)}"
