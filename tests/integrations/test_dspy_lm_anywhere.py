"""A dspy.LM works wherever gepakit.optimize accepts an LM (reflection, task, judge)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("dspy")

import gepakit
from gepakit.lm.resolve import resolve_lm
from gepakit.metrics import llm_judge
from gepakit.programs import PromptProgram

from .dspy_helpers import RuleLM

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::PendingDeprecationWarning"
)

DATA = [{"id": f"e{i}", "text": f"item {i}", "label": "yes"} for i in range(4)]


def _reflection_rule(system: str, user: str) -> str:
    return "```\nAnswer yes.\n```"


def _task_rule(system: str, user: str) -> str:
    return "yes" if "yes" in system else "no"


def test_dspy_lms_as_reflection_and_task_lm() -> None:
    reflection, task = RuleLM(_reflection_rule), RuleLM(_task_rule)
    program = PromptProgram(task, metric="exact_match", labels=["yes", "no"])
    result = gepakit.optimize(
        {"system_prompt": "Answer."}, DATA, DATA, evaluator=program,
        reflection_lm=reflection, max_metric_calls=16, progress=False,
    )  # fmt: skip
    assert result.val_aggregate_scores[0] == 0.0
    assert result.best_score == 1.0
    assert result.best_candidate["system_prompt"] == "Answer yes."
    assert reflection.calls >= 1 and task.calls >= 8
    roles: Any = result.usage["roles"]
    assert roles["reflection"]["calls"] == reflection.calls
    assert roles["reflection"]["prompt_tokens"] == 10 * reflection.calls


def test_resolve_lm_adapts_a_dspy_lm_with_chat_messages() -> None:
    lm = resolve_lm(RuleLM(lambda system, user: f"{system}|{user}"), role="task")
    completion = lm.complete([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}])
    assert completion.text == "S|U"


def test_dspy_lm_as_judge() -> None:
    judge = llm_judge(RuleLM(lambda s, u: "Feedback: fine.\nScore: 8"), "correct")
    score = judge({"text": "q"}, "a")
    assert score.score == pytest.approx(0.8) and score.feedback == "Judge: fine."
