"""Smoke test of examples/react_agent with scripted LMs (fakes): ReAct with tools."""

from __future__ import annotations

import re
from typing import Any

from .conftest import load_example
from .dspy_fakes import FunctionLM, last_user_text, system_text

RULE = "look up every price"


def fake_agent(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A scripted task LM for both ReAct predictors.

    The `react` step looks prices up only when its instructions say so; `extract` sums
    quantity x price over the observations, or guesses without them.
    """
    system, user = system_text(messages), last_user_text(messages)
    items = re.findall(r"(\d+) kg of (\w+)", user)
    if "next_tool_name" in system:
        todo = [i for _, i in items if i not in user.split("[[ ## trajectory ## ]]")[-1]]
        if RULE in system and todo:
            return {
                "next_thought": "Look it up.",
                "next_tool_name": "price",
                "next_tool_args": {"item": todo[0]},
            }
        return {"next_thought": "Done.", "next_tool_name": "finish", "next_tool_args": {}}
    prices = [float(p) for p in re.findall(r"observation_\d+ ## \]\]\n(\d+(?:\.\d+)?)", user)]
    if len(prices) == len(items):
        total = sum(int(q) * p for (q, _), p in zip(items, prices, strict=True))
        return {"reasoning": "Sum.", "answer": f"{total:g}"}
    return {"reasoning": "Guess.", "answer": "10"}


def fake_reflection(prompt: str) -> str:
    return f"```\nAnswer the shopping question; {RULE} with price() before computing.\n```"


def test_react_agent_example_learns_to_use_its_tools() -> None:
    example = load_example("react_agent")
    optimized, seed_acc, best_acc = example.run(
        FunctionLM(fake_agent), fake_reflection, budget=80, threads=1
    )
    assert optimized.detailed_results.total_metric_calls <= 80
    names = dict(optimized.named_predictors())
    assert RULE in names["react"].signature.instructions
    assert best_acc > seed_acc
