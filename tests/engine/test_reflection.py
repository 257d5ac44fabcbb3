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
from gepakit.lm import Completion, as_prompt_fn, resolve_lm
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


class FakeImage:
    """Stands for dspy.Image: an object with a `url` (a data URI here)."""

    def __init__(self, url: str) -> None:
        self.url = url


class PartsLM:
    """A fake LM object that records the content of each call (string or parts)."""

    model = "parts"

    def __init__(self) -> None:
        self.contents: list[Any] = []

    def complete(self, messages: Any, **params: Any) -> Completion:
        self.contents.append(messages[0]["content"])
        return Completion(text=fenced("Look at the picture."), finish_reason="stop")

    async def acomplete(self, messages: Any, **params: Any) -> Completion:
        return self.complete(messages, **params)


PNG = "data:image/png;base64,iVBORw0KGgo="


def image_request() -> ReflectionRequest:
    records = [
        {
            "Inputs": {"photo": FakeImage(PNG), "question": "What animal?"},
            "Generated Outputs": "cat",
            "Feedback": "Wrong: a dog.",
        },
        {
            "Inputs": {"photos": [{"type": "image_url", "image_url": {"url": "https://x/y.jpg"}}]},
            "Generated Outputs": "dog",
            "Feedback": "Correct.",
        },
    ]
    return request(reflective_dataset={"p": records})


def test_images_reach_an_lm_that_accepts_them_as_image_parts() -> None:
    lm = PartsLM()
    reply = ReflectiveProposer(as_prompt_fn(lm)).propose(image_request())
    assert dict(reply.texts) == {"p": "Look at the picture."}
    content = lm.contents[0]
    assert isinstance(content, list)
    images = [part["image_url"]["url"] for part in content if part["type"] == "image_url"]
    assert images == [PNG, "https://x/y.jpg"]
    text = "".join(part["text"] for part in content if part["type"] == "text")
    assert "[image 1]" in text and "What animal?" in text and "base64" not in text
    # The stored prompt is text, with placeholders.
    assert (
        "[image 1: image/png" in reply.prompts["p"]
        and "[image 2: https://x/y.jpg]" in (reply.prompts["p"])
    )


def test_images_become_text_placeholders_for_plain_functions() -> None:
    seen: list[Any] = []

    def plain(prompt: str) -> str:
        seen.append(prompt)
        return fenced("Look at the picture.")

    ReflectiveProposer(plain).propose(image_request())
    assert isinstance(seen[0], str) and "[image 1: image/png" in seen[0]
    # A plain function wrapped as an LM (the usage ledger does this) gets text too.
    wrapped = as_prompt_fn(resolve_lm(plain, role="reflection"))
    assert wrapped.accepts_images is False
    ReflectiveProposer(wrapped).propose(image_request())
    assert isinstance(seen[1], str) and "[image 2: https://x/y.jpg]" in seen[1]


def test_prompt_fn_replies_carry_the_finish_reason() -> None:
    class CutLM(PartsLM):
        def complete(self, messages: Any, **params: Any) -> Completion:
            return Completion(text="Answer with one of: a, b, and", finish_reason="length")

    fn = as_prompt_fn(CutLM())
    reply = fn("hi")
    assert reply == "Answer with one of: a, b, and" and reply.finish_reason == "length"
    result = ReflectiveProposer(fn).propose(request())
    assert not result.texts and "cut off" in result.reasons["p"]
    # A plain callable may return a Completion-like object to say the same.
    result = ReflectiveProposer(lambda p: Completion(text="Cut", finish_reason="length")).propose(
        request()
    )
    assert not result.texts and "cut off" in result.reasons["p"]
