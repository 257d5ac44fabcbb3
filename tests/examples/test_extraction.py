"""Smoke test of examples/extraction with scripted LMs (fakes): per-predictor feedback."""

from __future__ import annotations

from typing import Any

from .conftest import load_example
from .dspy_fakes import FunctionLM, last_user_text, system_text

CUES = {
    "urgency": {"high": ("urgent", "now"), "medium": ("week", "days"), "low": ("rush", "next")},
    "category": {
        "cleaning": ("bins", "spill"),
        "maintenance": ("door", "light"),
        "security": ("badge", "window"),
        "hvac": ("freezing", "air"),
    },
    "sentiment": {"negative": ("frustrated", "acceptable"), "positive": ("quick", "great")},
}


def fake_extractor(messages: list[dict[str, Any]]) -> dict[str, str]:
    """A scripted task LM: gets a field right only once its instructions list the cues."""
    field = next(f for f in CUES if f"`{f}`" in system_text(messages))
    email = last_user_text(messages).lower()
    if "cues:" not in system_text(messages):
        return {field: "unknown"}
    for value, words in CUES[field].items():
        if any(w in email for w in words):
            return {field: value}
    return {field: "neutral"}


def fake_reflection(prompt: str) -> str:
    return "```\nRead the email and answer the field. cues: see the wording.\n```"


def test_extraction_example_optimizes_each_predictor() -> None:
    example = load_example("extraction")
    optimized, seed, best = example.run(
        FunctionLM(fake_extractor), fake_reflection, budget=150, threads=1
    )
    assert optimized.detailed_results.total_metric_calls <= 150
    changed = [
        name for name, p in optimized.named_predictors() if "cues:" in p.signature.instructions
    ]
    assert len(changed) >= 2
    assert best > seed


def test_metric_gives_partial_credit_and_per_predictor_feedback() -> None:
    import dspy

    example = load_example("extraction")
    gold = example.load_emails()[0][0]
    pred = dspy.Prediction(urgency="urgent", category=gold.category, sentiment=gold.sentiment)
    whole = example.metric(gold, pred)
    assert whole.score == 2 / 3
    only = example.metric(gold, pred, pred_name="urgency")
    assert "urgency" in only.feedback and "category" not in only.feedback
    assert "not allowed" in only.feedback
