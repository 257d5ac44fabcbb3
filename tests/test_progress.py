"""Live progress: state from events, rendering, auto on/off, closing after errors."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest
from rich.console import Console

import gepakit
from gepakit import Candidate, Proposal, Rollout, Score
from gepakit.lm import UsageLedger
from gepakit.lm.base import Completion
from gepakit.logsink import LogSink
from gepakit.progress import ProgressDisplay, ProgressState, progress_sinks, sparkline


def _evaluate(candidate: dict[str, str], example: dict[str, Any]) -> Score:
    ok = example["label"] in candidate["p"]
    return Score(1.0 if ok else 0.0, feedback=f"needs {example['label']}")


def _reflect(prompt: str) -> str:
    text = prompt.split("```")[1]
    return "```\n" + text.strip() + " " + "abcd"[len(text.split()) % 4] + "\n```"


DATA = [{"id": f"e{i}", "label": "abcd"[i % 4]} for i in range(8)]


def _display() -> tuple[ProgressDisplay, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=110, color_system=None)
    return ProgressDisplay(console=console, refresh_per_second=50), out


def test_sparkline() -> None:
    assert sparkline([]) == ""
    assert sparkline([1.0, 1.0]) == "██"
    assert sparkline([0.0, 0.5, 1.0]) == "▁▅█"
    assert len(sparkline([float(i) for i in range(100)], width=10)) == 10


def _proposal(decision: str) -> Proposal:
    return Proposal(
        index=0, kind="reflection", parent_ids=("p",), child_id=None, components=("p",),
        decision=decision, reason="why",
    )  # fmt: skip


def test_state_counts_frontier_eta_and_usage() -> None:
    now = [0.0]
    ledger = UsageLedger()
    ledger.record("task", Completion(text="x", model="gpt-4o-mini", prompt_tokens=1000,
                                     completion_tokens=100))  # fmt: skip
    display = ProgressDisplay(console=Console(file=io.StringIO()))
    display.state = ProgressState(ledger, clock=lambda: now[0])
    a, b = Candidate(components={"p": "a"}), Candidate(components={"p": "b"})
    display.budget_update(0, 100, 0)
    for cand, scores in ((a, (1.0, 0.0)), (b, (0.0, 1.0))):
        for eid, score in zip(("x", "y"), scores, strict=True):
            display.rollout_finished(
                Rollout(candidate_id=cand.id, example_id=eid, split="val", score=score)
            )
    display.rollout_finished(Rollout(candidate_id="zz", example_id="x", split="val", score=9))
    display.candidate_added(0, a, 0.5)
    display.candidate_added(1, b, 0.5)
    display.new_best(0, 0.5)
    display.proposal_finished(_proposal("accepted"))
    display.proposal_finished(_proposal("rejected"))
    now[0] = 10.0
    display.budget_update(25, 100, 3)
    state = display.state
    assert state.frontier_size() == 2  # "zz" is not in the pool
    assert state.eta() == pytest.approx(30.0)
    assert state.decisions == {"accepted": 1, "rejected": 1}
    assert state.usage() == (1000, 100, pytest.approx((1000 * 0.15 + 100 * 0.6) / 1e6))


def test_display_renders_during_a_run() -> None:
    display, out = _display()
    result = gepakit.optimize(
        {"p": "x"}, DATA[:4], DATA[4:], evaluator=_evaluate, reflection_lm=_reflect,
        max_metric_calls=40, callbacks=[display], progress=False,
    )  # fmt: skip
    text = out.getvalue()
    assert not display.live.is_started
    assert f"{result.total_metric_calls}/40 metric calls" in text
    assert "accepted" in text and "best val" in text and "frontier" in text
    assert "ETA" in text


def test_progress_auto_follows_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    for progress in (None, False):
        (sink,) = progress_sinks(progress)
        assert isinstance(sink, LogSink) and sink.install_handler
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    display, logs = progress_sinks(None)
    assert isinstance(display, ProgressDisplay)
    assert isinstance(logs, LogSink) and not logs.install_handler
    assert len(progress_sinks(True)) == 2
    assert progress_sinks(True, quiet=True) == []
    assert progress_sinks(None, quiet=True) == []


def test_optimize_progress_true_draws_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    gepakit.optimize(
        {"p": "x"}, DATA[:4], DATA[4:], evaluator=_evaluate, reflection_lm=_reflect,
        max_metric_calls=30, progress=True,
    )  # fmt: skip
    captured = capsys.readouterr()
    assert "metric calls" in captured.err
    assert captured.out == ""


def test_display_closed_when_the_run_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    displays: list[ProgressDisplay] = []

    def fake_sinks(progress: bool | None, **kwargs: Any) -> list[ProgressDisplay]:
        display, _ = _display()
        displays.append(display)
        return [display]

    monkeypatch.setattr("gepakit.progress.progress_sinks", fake_sinks)

    def boom(candidate: dict[str, str], example: dict[str, Any]) -> float:
        raise RuntimeError("evaluator broke")

    with pytest.raises(Exception, match="evaluator broke"):
        gepakit.optimize(
            {"p": "x"}, DATA[:4], DATA[4:], evaluator=boom, reflection_lm=_reflect,
            max_metric_calls=30, progress=True, raise_on_exception=True,
        )  # fmt: skip
    assert displays and not displays[0].live.is_started
