"""`llm_judge`: prompt contents, reply parsing, scores and feedback, with a scripted LM."""

from __future__ import annotations

import pytest

import gepakit
from gepakit import ConfigError, Score
from gepakit.metrics import JudgeReplyError, LLMJudge, llm_judge
from gepakit.programs import PromptProgram
from gepakit.programs.judge import parse_judgement
from gepakit.testing import ScriptedLM

EXAMPLE = {"id": "q1", "question": "Capital of France?", "answer": "Paris"}


def test_judge_scores_and_explains_with_a_scripted_lm() -> None:
    lm = ScriptedLM(["Feedback: Correct city, but add the country.\nScore: 7"])
    judge = llm_judge(lm, "The answer names the right city.", reference_field="answer")
    score = judge(EXAMPLE, "It is Paris.")
    assert isinstance(score, Score)
    assert score.score == pytest.approx(0.7)
    assert score.feedback == "Judge: Correct city, but add the country."
    assert score.output == "It is Paris."
    (prompt,) = lm.prompts
    assert "The answer names the right city." in prompt
    assert "question: Capital of France?" in prompt
    assert "Reference answer" in prompt and "Paris" in prompt
    assert "It is Paris." in prompt and "0 (useless) to 10" in prompt
    assert "id: q1" not in prompt and "answer: Paris" not in prompt


@pytest.mark.parametrize(
    ("reply", "value", "feedback"),
    [
        ("Feedback: fine\nScore: 10", 1.0, "fine"),
        ("**Score:** 3/5\nFeedback: half right", 0.6, "half right"),
        ('{"score": 4, "feedback": "too long"}', 0.4, "too long"),
        ("Feedback: a\nScore: 12", 1.0, "a"),  # clipped to [0, 1]
        ("Score: 2\nScore: 5", 0.5, ""),  # the last score wins
        ("The reply misses the point.\nScore: 0", 0.0, "The reply misses the point."),
    ],
)
def test_parse_judgement(reply: str, value: float, feedback: str) -> None:
    assert parse_judgement(reply, 10) == (pytest.approx(value), feedback)


def test_unreadable_reply_fails_the_rollout_not_silently_zero() -> None:
    judge = llm_judge(ScriptedLM(["I think it's fine."]), "correct")
    with pytest.raises(JudgeReplyError, match="no 'Score: N' line"):
        judge(EXAMPLE, "Paris")


def test_bad_options_are_config_errors() -> None:
    lm = ScriptedLM([])
    with pytest.raises(ConfigError, match="criteria"):
        llm_judge(lm, " ")
    with pytest.raises(ConfigError, match="scale"):
        llm_judge(lm, "ok", scale=0)
    with pytest.raises(ConfigError, match="unknown fields"):
        llm_judge(lm, "ok", template="{criteria} {nope}")
    judge = llm_judge(lm, "ok", reference_field="gold")
    with pytest.raises(ConfigError, match="no field 'gold'"):
        judge(EXAMPLE, "x")


def test_judge_as_prompt_program_metric_drives_optimize() -> None:
    """The judge's feedback reaches reflection; better prompts get better grades."""

    def task(prompt: str) -> str:
        return "Paris, France" if "country" in prompt else "Paris"

    def grade(prompt: str) -> str:
        reply = prompt.split("<<<\n", 1)[1].split("\n>>>", 1)[0]
        if "France" in reply:
            return "Feedback: complete.\nScore: 10"
        return "Feedback: name the country too.\nScore: 5"

    def reflect(prompt: str) -> str:
        assert "Judge: name the country too." in prompt
        return "```\nAnswer with the city and its country.\n```"

    judge = llm_judge(grade, "The answer names the city and its country.")
    assert isinstance(judge, LLMJudge) and gepakit.metrics.llm_judge is llm_judge
    program = PromptProgram(task, metric=judge, user_template="{question}")
    data = [{**EXAMPLE, "id": f"q{i}"} for i in range(3)]
    result = gepakit.optimize(
        {"system_prompt": "Answer briefly."}, data, data, evaluator=program,
        reflection_lm=reflect, max_metric_calls=30, progress=False,
    )  # fmt: skip
    assert result.val_aggregate_scores[0] == pytest.approx(0.5)
    assert result.best_score == pytest.approx(1.0)


def test_judge_calls_are_counted_in_the_run_ledger() -> None:
    """A judge used as a PromptProgram metric shows in the Result's usage as ``judge``."""
    grades = iter(["Feedback: ok.\nScore: 10", "no score here"] * 100)
    judge = llm_judge(lambda _prompt: next(grades), "The answer is right.")
    program = PromptProgram(lambda _p: "Paris", metric=judge, user_template="{question}")
    data = [{**EXAMPLE, "id": f"q{i}"} for i in range(4)]
    result = gepakit.optimize(
        {"system_prompt": "Answer briefly."}, data, data, evaluator=program,
        reflection_lm=lambda _p: "```\nAnswer with the city.\n```",
        max_metric_calls=10, progress=False, max_error_rate=1.0,
    )  # fmt: skip
    roles = result.usage["roles"]
    assert roles["task"]["calls"] == result.total_metric_calls > 4
    # Every rollout asked the judge once; an unreadable grade fails the rollout, but the
    # judge LM call itself succeeded.
    assert roles["judge"]["calls"] == roles["task"]["calls"]
    assert roles["judge"]["errors"] == 0
