"""Metrics for evaluators: ``(example, reply) -> float | Score``, higher is better.

The rule-based metrics of `PromptProgram` (exact match, contains, regex, a JSON field)
and `llm_judge`, an LLM-as-judge metric whose feedback explains the grade::

    from gepakit.metrics import llm_judge
    judge = llm_judge("openai/gpt-4o-mini", "The answer is correct and cites the text.",
                      reference_field="answer")
    score = judge({"question": "...", "answer": "..."}, reply)   # gepakit.Score
"""

from __future__ import annotations

from gepakit.programs.judge import JUDGE_TEMPLATE, JudgeReplyError, LLMJudge, llm_judge
from gepakit.programs.metrics import (
    Contains,
    ExactMatch,
    JsonField,
    Metric,
    Regex,
    extract_json,
    make_metric,
    normalize_answer,
)

__all__ = [
    "JUDGE_TEMPLATE",
    "Contains",
    "ExactMatch",
    "JsonField",
    "JudgeReplyError",
    "LLMJudge",
    "Metric",
    "Regex",
    "extract_json",
    "llm_judge",
    "make_metric",
    "normalize_answer",
]
