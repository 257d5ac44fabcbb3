"""Smoke test of examples/inference_time_search with scripted LMs (fakes)."""

from __future__ import annotations

from gepakit.testing import ScriptedLM

from .conftest import load_example

ANSWERS = {
    "hex colour": r"#[0-9a-fA-F]{6}",
    "ISO form": r"\d{4}-\d{2}-\d{2}",
    "ZIP": r"\d{5}(-\d{4})?",
    "semantic version": r"\d+\.\d+\.\d+",
    "snake_case": r"[a-z]+(_[a-z]+)*",
    "24-hour": r"([01]\d|2[0-3]):[0-5]\d",
}


def fake_writer(prompt: str) -> str:
    """A scripted task LM: a right pattern only when the instructions say "full match"."""
    if "full match" not in prompt:
        return "`.*`"
    return next((f"`{p}`" for key, p in ANSWERS.items() if key in prompt), "`x`")


def fake_reflection(prompt: str) -> str:
    return "```\nWrite a regular expression that must be a full match. Reply with it only.\n```"


def test_inference_time_search_keeps_the_best_output_per_task() -> None:
    example = load_example("inference_time_search")
    result, best = example.run(ScriptedLM(fake_writer), fake_reflection, budget=40)
    tasks = {t["id"]: t for t in example.load_tasks()}
    assert set(best) == set(tasks)
    assert all(example.check(best[t], tasks[t])[0] == 1.0 for t in tasks)
    assert result.best_score == 1.0 and result.val_aggregate_scores[0] < 1.0
