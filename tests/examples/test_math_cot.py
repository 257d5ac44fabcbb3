"""Smoke test of examples/math_cot with scripted LMs (fakes), through gepakit.dspy.GEPA."""

from __future__ import annotations

import re
from typing import Any

from .conftest import load_example
from .dspy_fakes import FunctionLM, last_user_text, system_text

STEPS_RULE = "Compute each step"


def fake_solver(messages: list[dict[str, Any]]) -> dict[str, str]:
    """A scripted task LM: solves the problem only when told to compute each step."""
    question = last_user_text(messages)
    numbers = [int(n) for n in re.findall(r"\d+", question)]
    if STEPS_RULE not in system_text(messages) or len(numbers) < 3:
        return {"reasoning": "I guess.", "answer": "7"}
    a, b, c = numbers[:3]
    if "gives away" in question:
        answer = a * b - c
    elif "to each of" in question:
        answer = a - b * c
    elif "shared equally" in question:
        answer = a // b + c
    else:
        answer = numbers[3] - a * b if len(numbers) > 3 else a * b
    return {"reasoning": "Step by step.", "answer": str(answer)}


def fake_reflection(prompt: str) -> str:
    return f"```\n{STEPS_RULE} of the word problem, then give the final number only.\n```"


def test_math_cot_example_runs_through_gepakit_dspy() -> None:
    example = load_example("math_cot")
    optimized, seed_acc, best_acc = example.run(
        FunctionLM(fake_solver), fake_reflection, budget=60, threads=1
    )
    details = optimized.detailed_results
    assert details.total_metric_calls <= 60
    assert STEPS_RULE in optimized.predict.signature.instructions
    assert best_acc > seed_acc
