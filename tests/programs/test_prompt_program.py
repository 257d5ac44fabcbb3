"""Tests of PromptProgram with a scripted fake task LM."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from gepakit.errors import ConfigError, LMError
from gepakit.lm.base import Completion, Message
from gepakit.programs import PromptProgram
from gepakit.types import Example, Score

LABELS = ("add_to_playlist", "play_music", "get_weather")
CANDIDATE = {"system_prompt": "Classify the intent."}
EXAMPLE = {"id": "e1", "text": "play some jazz", "label": "play_music"}


class FakeLM:
    """Returns canned replies in order and records every call."""

    model = "fake"

    def __init__(self, *replies: str, finish_reason: str = "stop") -> None:
        self.replies = list(replies)
        self.finish_reason = finish_reason
        self.calls: list[tuple[list[Message], dict[str, Any]]] = []
        self._lock = threading.Lock()

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        with self._lock:
            self.calls.append((list(messages), params))
            text = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return Completion(text=text, finish_reason=self.finish_reason, model=self.model)

    async def acomplete(self, messages: Sequence[Message], **params: Any) -> Completion:
        return self.complete(messages, **params)


def test_sends_system_prompt_and_filled_template() -> None:
    lm = FakeLM("play_music")
    program = PromptProgram(lm, user_template="Utterance: {text}", max_tokens=16, temperature=0.0)
    score = program(CANDIDATE, EXAMPLE)
    assert score.score == 1.0
    messages, params = lm.calls[0]
    assert messages == [
        {"role": "system", "content": "Classify the intent."},
        {"role": "user", "content": "Utterance: play some jazz"},
    ]
    assert params == {"max_tokens": 16, "temperature": 0.0}


def test_score_carries_output_trace_and_feedback() -> None:
    program = PromptProgram(FakeLM("play music please"), labels=LABELS)
    score = program(CANDIDATE, EXAMPLE)
    assert isinstance(score, Score)
    assert score.score == 0.0
    assert score.output == "play music please"
    trace = {
        "system_prompt": {"inputs": {"text": "play some jazz"}, "outputs": "play music please"}
    }
    assert score.trace == trace
    fb = score.feedback or ""
    assert "Expected label 'play_music' but the reply was 'play music please'" in fb
    assert "Allowed labels: add_to_playlist, play_music, get_weather." in fb


def test_custom_component_name() -> None:
    program = PromptProgram(FakeLM("play_music"), component="instructions")
    assert program({"instructions": "x", "other": "y"}, EXAMPLE).trace is not None
    with pytest.raises(ConfigError, match="no component 'instructions'"):
        program(CANDIDATE, EXAMPLE)


def test_template_field_missing_is_a_config_error() -> None:
    program = PromptProgram(FakeLM("x"), user_template="{utterance}")
    with pytest.raises(ConfigError, match="utterance"):
        program(CANDIDATE, EXAMPLE)


def test_example_records_and_dataclasses_are_accepted() -> None:
    @dataclass
    class Row:
        text: str
        label: str

    program = PromptProgram(FakeLM("play_music"))
    assert program(CANDIDATE, Example(id="e1", data=EXAMPLE)).score == 1.0
    assert program(CANDIDATE, Row("play jazz", "play_music")).score == 1.0


def test_regex_parser_extracts_answer() -> None:
    program = PromptProgram(FakeLM("Reasoning... Intent: play_music"), parser=r"Intent:\s*(\w+)")
    score = program(CANDIDATE, EXAMPLE)
    assert score.score == 1.0
    assert score.output == "Reasoning... Intent: play_music"


def test_parse_errors_become_feedback_naming_the_format() -> None:
    program = PromptProgram(FakeLM("I think music"), parser=r"Intent:\s*(\w+)", labels=LABELS)
    score = program(CANDIDATE, EXAMPLE)
    assert score.score == 0.0
    fb = score.feedback or ""
    assert "Format error" in fb
    assert "Intent:" in fb
    assert "'play_music'" in fb


def test_callable_parser_value_error_is_feedback() -> None:
    def parse(reply: str) -> str:
        raise ValueError("expected a line 'ANSWER: <label>'")

    score = PromptProgram(FakeLM("x"), parser=parse)(CANDIDATE, EXAMPLE)
    assert "expected a line 'ANSWER: <label>'" in (score.feedback or "")


def test_custom_metric_float_and_score() -> None:
    def half(example: Any, reply: str) -> float:
        return 0.5

    score = PromptProgram(FakeLM("abc"), metric=half)(CANDIDATE, EXAMPLE)
    assert score.score == 0.5
    assert score.feedback is not None and "'play_music'" in score.feedback

    def rich(example: Any, reply: str) -> Score:
        return Score(0.25, feedback="close", output="parsed")

    score = PromptProgram(FakeLM("abc"), metric=rich)(CANDIDATE, EXAMPLE)
    assert (score.score, score.feedback, score.output) == (0.25, "close", "parsed")
    assert score.trace is not None


def test_truncated_reply_is_mentioned() -> None:
    program = PromptProgram(FakeLM("play play play", finish_reason="length"), max_tokens=8)
    fb = program(CANDIDATE, EXAMPLE).feedback or ""
    assert "cut off after 8 tokens" in fb


def test_json_field_metric_by_name() -> None:
    program = PromptProgram(FakeLM('{"label": "play_music"}'), metric="json_field")
    assert program(CANDIDATE, EXAMPLE).score == 1.0


def test_lm_errors_propagate() -> None:
    class FailingLM(FakeLM):
        def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
            raise LMError("boom", transient=True)

    with pytest.raises(LMError):
        PromptProgram(FailingLM("x"))(CANDIDATE, EXAMPLE)


def test_plain_function_becomes_an_lm() -> None:
    def fn(prompt: str) -> str:
        assert "play some jazz" in prompt
        return "play_music"

    assert PromptProgram(fn)(CANDIDATE, EXAMPLE).score == 1.0


def test_unknown_metric_rejected_up_front() -> None:
    with pytest.raises(ConfigError, match="unknown metric"):
        PromptProgram(FakeLM("x"), metric="bleu")


def test_thread_safe_under_concurrent_calls() -> None:
    from concurrent.futures import ThreadPoolExecutor

    program = PromptProgram(FakeLM("play_music"))
    with ThreadPoolExecutor(4) as pool:
        scores = list(pool.map(lambda _: program(CANDIDATE, EXAMPLE).score, range(40)))
    assert scores == [1.0] * 40


def test_trace_inputs_are_the_template_fields() -> None:
    example = {"id": "e1", "title": "T", "body": "B", "label": "x"}
    program = PromptProgram(FakeLM("x"), user_template="{title!r}: {body:>3} {title}")
    assert program.template_fields == ("title", "body")
    assert program(CANDIDATE, example).trace == {
        "system_prompt": {"inputs": {"title": "T", "body": "B"}, "outputs": "x"}
    }
    literal = PromptProgram(FakeLM("x"), user_template="no fields")
    assert literal(CANDIDATE, example).trace["system_prompt"]["inputs"] == example


def test_optimize_counts_task_lm_usage_in_the_result() -> None:
    import gepakit
    from gepakit.lm.base import Completion

    class FakeTaskLM:
        """A scripted task LM (a fake): always answers 'a', with token counts."""

        model = "fake-task"

        def complete(self, messages: Any, **params: Any) -> Completion:
            return Completion(text="a", prompt_tokens=7, completion_tokens=1, model=self.model)

        async def acomplete(self, messages: Any, **params: Any) -> Completion:
            return self.complete(messages)

    program = PromptProgram(FakeTaskLM(), labels=["a", "b"])
    data = [{"id": f"e{i}", "text": f"t{i}", "label": "ab"[i % 2]} for i in range(4)]
    result = gepakit.optimize(
        {"system_prompt": "Pick a label."}, data, data, evaluator=program,
        reflection_lm=lambda prompt: "```\nAnswer with a or b.\n```",
        max_metric_calls=20, progress=False,
    )  # fmt: skip
    task = result.usage["roles"]["task"]
    assert task["calls"] == result.total_metric_calls
    assert task["prompt_tokens"] == 7 * result.total_metric_calls
