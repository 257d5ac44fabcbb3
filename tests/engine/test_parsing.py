"""Reply parsing: what a reflection LM's reply turns into."""

from __future__ import annotations

import pytest

from gepakit.engine.parsing import parse_reply, strip_reasoning

CURRENT = "Classify the message."


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("```\nAnswer with one label.\n```", "Answer with one label."),
        ("```text\nAnswer with one label.\n```", "Answer with one label."),
        # A missing closing fence: the block runs to the end.
        ("```\nAnswer with one label.", "Answer with one label."),
        # No fences at all: the whole reply.
        ("Answer with one label.", "Answer with one label."),
        # Reasoning blocks are dropped, closed or left open at the start.
        ("<think>the old one is vague</think>\n```\nBe precise.\n```", "Be precise."),
        ("<THINKING>hmm</THINKING>Be precise.", "Be precise."),
        ("the old one is vague, so...</think>\n```\nBe precise.\n```", "Be precise."),
        # A fence holding only a heading: the text after the fence is the instruction.
        ("```\n# New instruction\n```\nAlways answer in lowercase.", "Always answer in lowercase."),
        ("```\nNew instructions:\n```\nAlways answer in lowercase.", "Always answer in lowercase."),
        # A chatty preamble before unfenced text is removed.
        (
            "Here is the improved instruction:\nAlways answer in lowercase.",
            "Always answer in lowercase.",
        ),
        ("Sure! The new prompt follows:\nUse one word.", "Use one word."),
        # Several blocks: the most substantive one.
        (
            "```\nshort\n```\nand\n```\nThe much longer instruction text.\n```",
            "The much longer instruction text.",
        ),
    ],
)
def test_reply_parses_to_text(reply: str, expected: str) -> None:
    parsed = parse_reply(reply, CURRENT)
    assert parsed.text == expected, parsed.reason


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("", "empty reply"),
        ("   \n ", "empty reply"),
        ("<think>only thinking</think>", "only reasoning"),
        ("```\n# New instruction\n```", "only a heading"),
        ("```\nClassify the message.\n```", "identical"),
        ("  Classify the message.  ", "identical"),
        ("\n".join(["Be brief."] * 8), "repetition loop"),
        (" ".join(["answer with the label"] * 20), "repetition loop"),
        ("```python\nimport re\n\ndef classify(x):\n    return x\n```", "source code"),
    ],
)
def test_reply_is_rejected_with_a_reason(reply: str, reason: str) -> None:
    parsed = parse_reply(reply, CURRENT)
    assert parsed.text is None
    assert reason in parsed.reason


def test_code_is_allowed_when_asked() -> None:
    code = "import re\ndef f(x):\n    return x"
    assert parse_reply(f"```\n{code}\n```", "old", allow_code=True).text == code


def test_a_varied_long_instruction_is_not_a_loop() -> None:
    text = " ".join(f"Rule {i}: handle case {i} with care." for i in range(30))
    assert parse_reply(text, CURRENT).text == text


def test_strip_reasoning_keeps_text_around_closed_blocks() -> None:
    assert strip_reasoning("a <think>x</think> b") == "a  b"
    assert strip_reasoning("no reasoning") == "no reasoning"


@pytest.mark.parametrize(
    "reply",
    [
        '```json\n{"task": "Classify.", "allowed_labels": ["a", "b"]}\n```',
        '{"task": "Classify.", "labels": ["a", "b"], "rules": ["If ...',  # broken JSON too
    ],
)
def test_a_json_object_reply_is_rejected_for_prose_instructions(reply: str) -> None:
    parsed = parse_reply(reply, "Classify the intent.")
    assert parsed.text is None
    assert "JSON" in parsed.reason


def test_json_instructions_may_stay_json() -> None:
    reply = '```\n{"task": "Classify into a or b."}\n```'
    assert parse_reply(reply, '{"task": "Classify."}').text == '{"task": "Classify into a or b."}'


def test_a_fence_quoting_the_current_text_is_skipped_for_the_new_one() -> None:
    current = "Classify the intent of the utterance, carefully and with a lot of words here."
    reply = f"Current:\n```\n{current}\n```\nNew:\n```\nAnswer with one label.\n```"
    assert parse_reply(reply, current).text == "Answer with one label."


def test_a_stray_closing_fence_is_dropped() -> None:
    reply = "Classify the intent. Answer with one label only.\n```"
    assert (
        parse_reply(reply, "Classify.").text == "Classify the intent. Answer with one label only."
    )
