"""Reflection profiles: the general template, which profile a run gets, sampling params."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import pytest

import gepakit
from gepakit.engine.profiles import is_embedded_local, make_proposer, resolve_style
from gepakit.engine.profiles.compact import COMPACT_TEMPLATE, CompactProposer
from gepakit.engine.prompts import DEFAULT_TEMPLATE, TEMPLATE_PLACEHOLDERS
from gepakit.engine.reflection import ReflectionRequest, ReflectiveProposer
from gepakit.lm import RetryingLM, as_prompt_fn, resolve_lm
from gepakit.lm.base import Completion, Message
from gepakit.testing import ToyTask, fenced, parse_reflection_prompt


class RecordingLM:
    """A fake LM object: replies from a list, records every call's messages and params."""

    def __init__(self, replies: Sequence[str] = (), *, model: str = "recording") -> None:
        self.model = model
        self.replies = list(replies)
        self.calls: list[tuple[list[Message], dict[str, Any]]] = []

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        self.calls.append((list(messages), params))
        text = self.replies.pop(0) if self.replies else fenced(f"New text {len(self.calls)}.")
        return Completion(text=text, finish_reason="stop", model=self.model)

    async def acomplete(self, messages: Sequence[Message], **params: Any) -> Completion:
        return self.complete(messages, **params)


FakeLocalLM = type("FakeLocalLM", (RecordingLM,), {"__module__": "gepakit.local.runtime"})
"""A fake standing for `gepakit.local.runtime.LocalLM` (same module name, no model)."""


def request() -> ReflectionRequest:
    records = [
        {"Inputs": {"q": "2+3*4"}, "Generated Outputs": "20", "Feedback": "Wrong: 14."},
        {"Inputs": {"q": "7-2"}, "Generated Outputs": "5", "Feedback": "Correct."},
    ]
    return ReflectionRequest(
        candidate={"p": "Solve the problem."}, reflective_dataset={"p": records}, components=("p",)
    )


def test_general_template_asks_for_complete_instructions_without_shape_or_cap() -> None:
    lm = RecordingLM()
    ReflectiveProposer(as_prompt_fn(lm)).propose(request())
    prompt = lm.calls[0][0][0]["content"]
    parsed = parse_reflection_prompt(prompt)
    assert (parsed.component, parsed.current_text) == ("p", "Solve the problem.")
    assert parsed.feedback == ("Wrong: 14.", "Correct.")
    assert '{"q": "2+3*4"}' in prompt and "Generated Outputs: 20" in prompt
    for asked in ("what the task is", "inputs look like", "facts about the domain",
                  "constraints", "already gets right", "self-contained"):  # fmt: skip
        assert asked in prompt
    # No classification shape, no answer format, no word cap, no "small" model.
    assert "If the input" not in prompt and "answer <" not in prompt
    assert not re.search(r"\b(at most|words|small)\b", prompt)
    assert set(re.findall(r"{(\w+)}", DEFAULT_TEMPLATE)) <= TEMPLATE_PLACEHOLDERS


def test_max_text_chars_is_stated_and_enforced() -> None:
    lm = RecordingLM([fenced("x" * 81), fenced("Short enough.")])
    proposer = ReflectiveProposer(as_prompt_fn(lm), max_text_chars=80)
    first = proposer.propose(request())
    assert "under 80 characters" in lm.calls[0][0][0]["content"]
    assert not first.texts and "81 characters, over max_text_chars=80" in first.reasons["p"]
    assert dict(proposer.propose(request()).texts) == {"p": "Short enough."}


@pytest.mark.parametrize(
    ("style", "lm", "expected"),
    [
        ("auto", "local", "compact"),
        ("auto", "local/qwen2.5-coder-1.5b", "compact"),
        ("auto", "openai/gpt-4o-mini", "general"),
        ("auto", "anthropic/claude-sonnet", "general"),
        ("auto", RecordingLM(), "general"),
        ("auto", FakeLocalLM(), "compact"),
        ("auto", RetryingLM(FakeLocalLM()), "compact"),  # found through wrappers
        ("auto", lambda prompt: prompt, "general"),
        ("general", "local", "general"),
        ("compact", "openai/gpt-4o-mini", "compact"),
        ("compact", RecordingLM(), "compact"),
    ],
)
def test_profile_selection(style: str, lm: Any, expected: str) -> None:
    assert resolve_style(style, lm) == expected
    assert isinstance(make_proposer(resolve_style(style, lm), str), ReflectiveProposer)


def test_unknown_style_is_refused() -> None:
    with pytest.raises(ValueError, match="reflection_style"):
        resolve_style("tiny", "local")
    assert not is_embedded_local("localhost/model") and is_embedded_local(" local ")
    with pytest.raises(gepakit.ConfigError, match="reflection_style"):
        run(RecordingLM(), reflection_style="tiny")


def run(lm: Any, **kw: Any) -> gepakit.Result:
    task = ToyTask(train_size=4, val_size=3)
    return gepakit.optimize(
        task.seed_candidate,
        task.trainset,
        task.valset,
        evaluator=task.evaluate,
        reflection_lm=lm,
        max_metric_calls=20,
        progress=False,
        **kw,
    )


def opening(template: str) -> str:
    return template.split("{", 1)[0]


def test_optimize_uses_the_general_profile_for_hosted_lms_and_compact_when_asked() -> None:
    general = RecordingLM()
    run(general)
    assert general.calls[0][0][0]["content"].startswith(opening(DEFAULT_TEMPLATE))
    compact = RecordingLM()
    run(compact, reflection_style="compact")
    assert compact.calls[0][0][0]["content"].startswith(opening(COMPACT_TEMPLATE))
    local = FakeLocalLM()
    run(local)  # auto: an LM object from gepakit.local gets the compact profile
    assert local.calls[0][0][0]["content"].startswith(opening(COMPACT_TEMPLATE))


def test_reflection_sampling_is_the_users() -> None:
    # Nothing is forced: the LM's own settings apply (temperature 0.0 was forced before).
    lm = RecordingLM()
    run(lm)
    assert all(params == {} for _, params in lm.calls)
    lm = RecordingLM()
    run(lm, reflection_lm_kwargs={"temperature": 0.7, "max_tokens": 900})
    assert all(params == {"temperature": 0.7, "max_tokens": 900} for _, params in lm.calls)
    # Params set on the LM (as `gepakit run` does with reflection_params) reach the call.
    lm = RecordingLM()
    run(resolve_lm(lm, role="reflection", retries=False, temperature=1.0))
    assert all(params == {"temperature": 1.0} for _, params in lm.calls)
    # The compact profile forces nothing either: the local models default to 0 themselves.
    local = FakeLocalLM()
    run(local, reflection_lm_kwargs={"temperature": 0.3})
    assert all(params == {"temperature": 0.3} for _, params in local.calls)


def test_the_compact_proposer_is_a_reflective_proposer_with_its_own_defaults() -> None:
    compact = make_proposer("compact", str)
    assert isinstance(compact, CompactProposer)
    assert compact.template_for("p") == COMPACT_TEMPLATE and compact.field_limit == 1500
    general = make_proposer("general", str)
    assert type(general) is ReflectiveProposer and general.template_for("p") == DEFAULT_TEMPLATE


def test_sampling_params_for_a_plain_function_are_reported_unused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="gepakit"):
        run(ToyTask().reflect, reflection_lm_kwargs={"temperature": 0.5})
    assert any("['temperature'] are not used" in r.getMessage() for r in caplog.records)
