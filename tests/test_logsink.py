"""Log lines per proposal (also without a terminal), the notebook display, sanitizing."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

import gepakit
from gepakit import Candidate, Proposal, Score
from gepakit.logsink import LogSink
from gepakit.progress import NotebookDisplay, in_notebook, progress_sinks

SRC = Path(gepakit.__file__).resolve().parents[1]


def _evaluate(candidate: dict[str, str], example: dict[str, Any]) -> Score:
    ok = example["label"] in candidate["p"]
    return Score(1.0 if ok else 0.0, feedback=f"needs {example['label']}")


def _reflect(prompt: str) -> str:
    text = prompt.split("```")[1]
    return "```\n" + text.strip() + " " + "abcd"[len(text.split()) % 4] + "\n```"


DATA = [{"id": f"e{i}", "label": "abcd"[i % 4]} for i in range(8)]


def test_optimize_logs_a_line_per_proposal(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gepakit")
    result = gepakit.optimize(
        {"p": "x"}, DATA[:4], DATA[4:], evaluator=_evaluate, reflection_lm=_reflect,
        max_metric_calls=40, progress=False,
    )  # fmt: skip
    lines = [r.getMessage() for r in caplog.records if r.name == "gepakit"]
    proposal_lines = [line for line in lines if line.startswith("proposal ")]
    assert len(proposal_lines) == len(result.proposals) > 0
    first = proposal_lines[0]
    assert "(reflection)" in first and "metric calls" in first and "best " in first
    assert any(d in first for d in ("accepted", "rejected", "skipped", "failed"))
    assert lines[0].startswith("run started: budget 40 metric calls")
    assert lines[-1].startswith("run finished:")


def test_log_lines_show_on_a_pipe_without_logging_configured(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            """
            import gepakit
            from gepakit import Score

            data = [{"id": f"e{i}", "label": "abcd"[i % 4]} for i in range(8)]

            def evaluate(candidate, example):
                return Score(float(example["label"] in candidate["p"]), feedback="x")

            def reflect(prompt):
                text = prompt.split("```")[1]
                return "```\\n" + text.strip() + " a b c d\\n```"

            r = gepakit.optimize({"p": "x"}, data[:4], data[4:], evaluator=evaluate,
                                 reflection_lm=reflect, max_metric_calls=30)
            print("best", r.best_score)
            """
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "gepakit INFO proposal 0 (reflection)" in proc.stderr
    assert "gepakit INFO run finished:" in proc.stderr
    assert proc.stdout.startswith("best ")  # stdout stays the program's own


def test_quiet_sinks_and_handler_is_removed_after_the_run() -> None:
    assert progress_sinks(None, quiet=True) == []
    logger = logging.getLogger("gepakit")
    root_handlers = logging.getLogger().handlers[:]
    logging.getLogger().handlers.clear()  # as in a plain script: nothing configured
    try:
        stream = io.StringIO()
        sink = LogSink(stream=stream)
        sink.run_started({"max_metric_calls": 10, "train": 2, "val": 2, "components": ["p"]})
        assert logger.getEffectiveLevel() == logging.INFO
        sink.new_best(0, 0.5)
        sink.run_finished({"stop_reason": "budget exhausted", "total_metric_calls": 10})
        text = stream.getvalue()
        assert "run started: budget 10" in text and "best 0.5 (#0)" in text
        assert sink._handler is None and all(  # pyright: ignore[reportPrivateUsage]
            not isinstance(h, logging.StreamHandler) or h.stream is not stream
            for h in logger.handlers
        )
        assert logger.level == logging.NOTSET
    finally:
        logging.getLogger().handlers[:] = root_handlers


def test_proposal_reason_is_sanitized(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gepakit")
    sink = LogSink(install_handler=False)
    sink.proposal_finished(
        Proposal(
            index=3,
            kind="reflection",
            parent_ids=("a",),
            child_id=None,
            components=("p",),
            decision="failed",
            reason="LM said \x1b]0;pwned\x07\x1b[31mred\x1b[0m\nnext",
            parent_scores=(1.0, 0.0),
            child_scores=(1.0, 1.0),
        )
    )
    (message,) = [r.getMessage() for r in caplog.records]
    assert "\x1b" not in message and "\x07" not in message and "\n" not in message
    assert "proposal 3 (reflection) failed: minibatch 1/2 -> 2/2" in message
    assert "LM said red next" in message


class _Handle:
    def __init__(self, log: list[str], obj: Any) -> None:
        self.log = log
        log.append(obj._repr_html_())

    def update(self, obj: Any) -> None:
        self.log.append(obj._repr_html_())


def test_notebook_display_updates_one_output() -> None:
    drawn: list[str] = []
    display = NotebookDisplay(display=lambda obj: _Handle(drawn, obj), min_interval=0.0)
    display.run_started({"max_metric_calls": 50})
    display.budget_update(10, 50, 0)
    display.candidate_added(0, Candidate(components={"p": "x"}), 0.25)
    display.new_best(0, 0.25)
    display.run_finished({"stop_reason": "done"})
    assert len(drawn) >= 3
    assert "10/50 metric calls" in drawn[-1] and "0.250" in drawn[-1]
    assert drawn[-1].lstrip().startswith("<")


def test_in_notebook_detects_a_jupyter_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not in_notebook()

    class ZMQInteractiveShell:  # the class name IPython's kernel shell has
        pass

    fake = types.ModuleType("IPython")
    fake.get_ipython = ZMQInteractiveShell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert in_notebook()
    display, logs = progress_sinks(None)
    assert isinstance(display, NotebookDisplay)
    assert isinstance(logs, LogSink) and not logs.install_handler
