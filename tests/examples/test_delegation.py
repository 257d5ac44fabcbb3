"""Smoke test of examples/delegation with scripted LMs (fakes): a remote LM set by set_lm."""

from __future__ import annotations

import re
from typing import Any

from .conftest import load_example
from .dspy_fakes import FunctionLM, last_user_text, system_text

RULE = "Remove names and emails"


def fake_local(messages: list[dict[str, Any]]) -> dict[str, str]:
    """Scripted trusted model: redacts only when told to; composes from the response."""
    user = last_user_text(messages)
    if "redacted_request" in system_text(messages) and "user_query" in system_text(messages):
        query = user.split("[[ ## user_query ## ]]")[-1].split("Respond with")[0].strip()
        if RULE in system_text(messages):
            query = re.sub(r"I am [^(]+\([^)]+\)\. ", "", query)
        return {"redacted_request": query}
    number = re.findall(r"response ## \]\]\n(-?\d+(?:\.\d+)?)", user)
    return {"final_answer": number[0] if number else "unknown"}


def fake_remote(messages: list[dict[str, Any]]) -> dict[str, str]:
    """Scripted untrusted model: converts the value in the request."""
    example = load_example("delegation")
    request = last_user_text(messages)
    for kind, convert in example.CONVERSIONS.items():
        unit = kind.split(" to ")[0]
        found = re.search(rf"(\d+) {unit}", request)
        if found:
            return {"response": f"{round(convert(int(found.group(1))), 1):g}"}
    return {"response": "?"}


def fake_reflection(prompt: str) -> str:
    return f"```\n{RULE} from the request; keep the numbers and units.\n```"


def test_delegation_example_learns_to_redact() -> None:
    example = load_example("delegation")
    remote = FunctionLM(fake_remote)
    optimized, seed, best = example.run(
        FunctionLM(fake_local), remote, fake_reflection, budget=90, threads=1
    )
    names = dict(optimized.named_predictors())
    assert RULE in names["craft"].signature.instructions
    assert names["respond"].lm is not None  # the remote LM stays on its predictor
    assert seed == 0.5 and best == 1.0
