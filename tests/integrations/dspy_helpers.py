"""Scripted DSPy LMs and a small two-predictor program for the DSPy integration tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dspy
from dspy.clients.engines import dummy_engine
from dspy.lm15 import FinishReason
from dspy.utils.dummies import DummyLM

Rule = Callable[[str, str], "Mapping[str, Any] | str"]
"""rule(system_text, last_user_text) -> output fields (formatted by the adapter) or raw text."""


class _RuleEngine(dummy_engine.DummyEngine):
    def _complete_messages(self, messages: Sequence[Mapping[str, Any]]) -> Any:
        owner: RuleLM = self.owner
        system = "\n".join(str(m["content"]) for m in messages if m.get("role") == "system")
        out = owner.rule(system, str(messages[-1]["content"]))
        text = out if isinstance(out, str) else owner._format_answer_fields(dict(out))
        owner.calls += 1
        return dummy_engine.Response(
            id=None,
            model="dummy",
            message=dummy_engine.Message.assistant([dummy_engine.TextPart(text)]),
            finish_reason=owner.finish_reason,
            usage=dummy_engine.Usage(input_tokens=10, output_tokens=5, total_tokens=15),
        )


class RuleLM(DummyLM):
    """A DummyLM whose reply is computed from the system and last user message.

    Each call reports 10 prompt and 5 completion tokens and `finish_reason`.
    """

    def __init__(self, rule: Rule, *, finish_reason: FinishReason = "stop") -> None:
        super().__init__({})
        self.rule = rule
        self.finish_reason: FinishReason = finish_reason
        self.calls = 0
        engine = _RuleEngine(self)
        self._engine_spec = engine
        self._async_engine_spec = dummy_engine.AsyncDummyEngine(engine)


class TwoStep(dspy.Module):
    """question -> draft -> answer, two named predictors."""

    def __init__(self) -> None:
        super().__init__()
        self.draft = dspy.Predict("question -> draft")
        self.answer = dspy.Predict("question, draft -> answer")

    def forward(self, question: str) -> dspy.Prediction:
        draft = self.draft(question=question).draft
        return self.answer(question=question, draft=draft)


CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Peru": "Lima", "Chile": "Santiago"}


def capital_examples(countries: Sequence[str] = ("France", "Japan", "Peru")) -> list[Any]:
    return [
        dspy.Example(question=f"Capital of {c}?", answer=CAPITALS[c]).with_inputs("question")
        for c in countries
    ]


def country_of(text: str) -> str:
    return next((c for c in CAPITALS if c in text), "")


def careful_rule(system: str, user: str) -> Mapping[str, Any] | str:
    """Right answers only when the instructions say "Be careful"; drafts always work."""
    country = country_of(user)
    if "`answer`" not in system:
        return {"draft": f"about {country}"}
    if "Be careful" in system:
        return {"answer": CAPITALS.get(country, "?")}
    return {"answer": "Springfield"}


def feedback_metric(
    gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None
) -> dspy.Prediction:
    ok = float(pred.answer == gold.answer)
    where = f" (predictor {pred_name})" if pred_name else ""
    return dspy.Prediction(score=ok, feedback=f"expected {gold.answer}, got {pred.answer}{where}")
