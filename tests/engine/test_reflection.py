"""Reflective datasets, the general proposer, and callable proposers."""

from __future__ import annotations

from typing import Any

import pytest

from gepakit.engine.prompts import REJECTED_HEADER
from gepakit.engine.reflection import (
    CallableProposer,
    ReflectionRequest,
    ReflectiveProposer,
    build_reflective_dataset,
    default_feedback,
    format_examples,
)
from gepakit.testing import ScriptedLM, fenced, parse_reflection_prompt
from gepakit.types import Rollout


def rollout(score: float, **kw: Any) -> Rollout:
    return Rollout(candidate_id="c", example_id="e", split="train", score=score, **kw)


def test_dataset_shows_example_output_and_feedback_to_every_component() -> None:
    rs = [rollout(0.0, feedback="wrong label", output="b"), rollout(1.0, output="a")]
    data = build_reflective_dataset(rs, [{"x": 1}, {"x": 2}], ["p", "q"])
    assert data["p"] == data["q"]
    assert data["p"][0] == {"Inputs": {"x": 1}, "Generated Outputs": "b", "Feedback": "wrong label"}
    assert data["p"][1]["Feedback"] == "This answer scored 1."


def test_a_trace_per_component_gives_each_its_own_records() -> None:
    trace = {
        "p": {"inputs": "q1", "outputs": "draft", "feedback": "too long"},
        "q": [{"inputs": "i1", "outputs": "o1"}, {"inputs": "i2", "outputs": "o2"}],
    }
    data = build_reflective_dataset([rollout(0.5, trace=trace, feedback="meh")], [{}], ["p", "q"])
    assert data["p"] == [{"Inputs": "q1", "Generated Outputs": "draft", "Feedback": "too long"}]
    assert [r["Inputs"] for r in data["q"]] == ["i1", "i2"]
    assert data["q"][0]["Feedback"] == "meh"


def test_errors_become_feedback() -> None:
    assert "ValueError: boom" in default_feedback(rollout(0.0, error="ValueError: boom"))


def test_long_fields_are_truncated() -> None:
    text = format_examples([{"Inputs": "x" * 5000, "Generated Outputs": None, "Feedback": "f"}])
    assert "[truncated]" in text and len(text) < 2000


def request(**kw: Any) -> ReflectionRequest:
    fields: dict[str, Any] = {
        "candidate": {"p": "Old p.", "q": "Old q."},
        "reflective_dataset": {
            "p": [{"Inputs": 1, "Generated Outputs": 2, "Feedback": "fix p"}],
            "q": [{"Inputs": 1, "Generated Outputs": 2, "Feedback": "fix q"}],
        },
        "components": ("p",),
    }
    fields.update(kw)
    return ReflectionRequest(**fields)


def test_proposer_sends_one_prompt_per_component_and_parses_replies() -> None:
    lm = ScriptedLM([fenced("New p."), "Old q."])
    reply = ReflectiveProposer(lm).propose(request(components=("p", "q")))
    assert dict(reply.texts) == {"p": "New p."}
    assert "identical" in reply.reasons["q"]
    assert list(reply.prompts) == ["p", "q"]
    assert len(lm.prompts) == 2  # the general profile asks once: no second try
    first = parse_reflection_prompt(lm.prompts[0])
    assert (first.component, first.current_text, first.feedback) == ("p", "Old p.", ("fix p",))
    assert REJECTED_HEADER.strip() not in lm.prompts[0]


def test_rejected_texts_are_listed_most_recent_last_and_capped() -> None:
    lm = ScriptedLM([fenced("New p.")])
    rejected = {"p": ("try 1", "try 2", "try 3", "try 4")}
    ReflectiveProposer(lm, max_rejected_shown=3).propose(request(rejected=rejected))
    assert parse_reflection_prompt(lm.prompts[0]).rejected == ("try 2", "try 3", "try 4")


def test_per_component_templates() -> None:
    lm = ScriptedLM([fenced("1"), fenced("2")])
    templates = {"p": "P-TEMPLATE {component}: {current_text} {examples}{rejected}"}
    ReflectiveProposer(lm, templates=templates).propose(request(components=("p", "q")))
    assert lm.prompts[0].startswith("P-TEMPLATE p: Old p.")
    assert parse_reflection_prompt(lm.prompts[1]).component == "q"  # the default template
    one = ScriptedLM([fenced("1")])
    ReflectiveProposer(one, templates="ALL {component}").propose(request())
    assert one.prompts == ["ALL p"]


def test_callable_proposer_checks_what_it_returns() -> None:
    def fn(candidate: dict[str, str], dataset: object, components: list[str]) -> dict[str, Any]:
        return {"p": "New p.", "q": "Old q.", "zz": "x", "r": ""}

    reply = CallableProposer(fn).propose(request(candidate={"p": "a", "q": "Old q.", "r": "c"}))
    assert dict(reply.texts) == {"p": "New p."}
    assert set(reply.reasons) == {"q", "zz", "r"}

    def not_a_dict(*args: Any) -> Any:
        return ["not a dict"]

    with pytest.raises(TypeError, match="dict of component"):
        CallableProposer(not_a_dict).propose(request())
