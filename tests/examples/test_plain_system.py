"""Smoke test of examples/plain_system with scripted LMs (fakes): the example runs end to end."""

from __future__ import annotations

import re
from pathlib import Path

from gepakit.testing import ScriptedLM

from .conftest import load_example

KEYWORDS = {
    "billing": ("charged", "refund", "invoice", "card"),
    "technical": ("crashes", "load", "error", "sync"),
    "account": ("log in", "email", "admin", "delete"),
    "sales": ("pricing", "discount", "demo", "enterprise"),
}
GUIDE = "\n".join(f"{team}: {', '.join(words)}" for team, words in KEYWORDS.items())


def fake_router(prompt: str) -> str:
    """A scripted task LM: routes by the keywords that the team guide lists, if any."""
    message = prompt.rsplit("\n", 1)[-1].lower()
    for team, words in KEYWORDS.items():
        listed = [w for w in words if re.search(rf"{team}:.*{w}", prompt)]
        if any(w in message for w in listed):
            return team
    return "billing"


def fake_reflection(prompt: str) -> str:
    """A scripted reflection LM: always proposes the full team guide."""
    return f"```\n{GUIDE}\n```"


def test_plain_system_example_runs_and_improves(tmp_path: Path) -> None:
    example = load_example("plain_system")
    result, seed_test, best_test = example.run(
        ScriptedLM(fake_router), fake_reflection, budget=120, run_dir=str(tmp_path / "run")
    )
    assert result.total_metric_calls <= 120
    assert any(p.decision == "accepted" for p in result.proposals)
    assert best_test > seed_test
    assert result.best_score > result.val_aggregate_scores[0]
