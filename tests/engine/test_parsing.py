"""Reply parsing: what a reflection LM's reply turns into."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from gepakit.engine import parsing, tidy
from gepakit.engine.parsing import (
    CUT_IN_REASONING,
    EMPTY_FENCE,
    MAX_REPLY_CHARS,
    TRUNCATED,
    parse_reply,
    strip_reasoning,
)
from gepakit.engine.profiles import compact

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


@pytest.mark.parametrize(
    "reply", ["```\n```", "```", "```text\n\n```", "```\n   \n```\n", "``````"]
)
def test_an_empty_fenced_reply_is_rejected_not_adopted_as_a_fence(reply: str) -> None:
    parsed = parse_reply(reply, CURRENT)
    assert parsed.text is None and parsed.reason == EMPTY_FENCE


def test_a_reply_cut_off_by_the_token_limit_is_rejected() -> None:
    cut = 'Classify reviews. If the input is a longer, mixed review, answer with "'
    assert parse_reply(cut, CURRENT, finish_reason="length").reason == TRUNCATED
    assert parse_reply("```\n" + cut, CURRENT, finish_reason="length").reason == TRUNCATED
    # A fenced block that was closed before the cut is complete: it is used.
    done = "```\nAnswer with one label.\n```\nNow let me explain why this"
    assert parse_reply(done, CURRENT, finish_reason="length").text == "Answer with one label."
    assert parse_reply(cut, CURRENT, finish_reason="stop").text == cut


def test_a_reply_cut_inside_its_reasoning_is_rejected() -> None:
    assert parse_reply("<think>The current text is vague, so", CURRENT).reason == CUT_IN_REASONING
    # Text before an unclosed block is kept only when complete (a closed fence).
    reply = "```\nBe precise.\n```\n<think>hmm, maybe also"
    assert parse_reply(reply, CURRENT).text == "Be precise."
    assert parse_reply("Be precise.\n<think>hmm", CURRENT).reason == TRUNCATED
    assert strip_reasoning("<think>a</think>x<think>b</think>y") == "xy"


def test_fences_inside_lines_and_stray_closing_fences() -> None:
    assert parse_reply("Be precise.\n```", CURRENT).text == "Be precise."
    assert parse_reply("Here: ```\nBe precise.\n```", CURRENT).text == "Be precise."
    assert parse_reply("```Be precise.```", CURRENT).text == "Be precise."


def test_oversized_replies_are_rejected_unparsed() -> None:
    parsed = parse_reply("x" * (MAX_REPLY_CHARS + 1), CURRENT)
    assert parsed.text is None and "too long" in parsed.reason


# Patterns that scan replies under MULTILINE must not let \s run across lines after ^:
# from every line start it would consume all the following blank lines (quadratic).
_UNBOUNDED_AT_LINE_START = re.compile(r"\^(\\s|\[[^\]]*\\s[^\]]*\])[*+]")


@pytest.mark.parametrize("module", [parsing, compact, tidy])
def test_multiline_patterns_do_bounded_work_per_line(module: Any) -> None:
    patterns = [v for v in vars(module).values() if isinstance(v, re.Pattern)]
    assert patterns
    for pattern in patterns:
        if pattern.flags & re.MULTILINE:
            assert not _UNBOUNDED_AT_LINE_START.search(pattern.pattern), pattern.pattern


def test_a_31_kb_reply_of_blank_lines_parses_through_the_compact_profile() -> None:
    # Took ~15 s of CPU each in parse_reply and copies_records before (quadratic).
    reply = "Be good.\n" + "\n" * 31_000 + "x"
    done = threading.Event()

    def work() -> None:
        parse_reply(reply, CURRENT)
        compact.copies_records(reply)
        tidy.tidy_proposal(reply, compact.COMPACT_TEMPLATE)
        done.set()

    threading.Thread(target=work, daemon=True).start()
    assert done.wait(timeout=5.0)  # milliseconds when linear; a generous bound


def test_fences_nested_inside_the_reply_block_are_kept() -> None:
    text = 'Answer in JSON, for example:\n```json\n{"label": "a"}\n```\nNothing else.'
    reply = f"Here it is:\n```\n{text}\n```\nHope this helps."
    assert parse_reply(reply, CURRENT).text == text
    # Two separate blocks (the current text quoted, then the new one) stay separate.
    two = "Old:\n```\nClassify the message.\n```\nNew:\n```text\nBe precise.\n```"
    assert parse_reply(two, CURRENT).text == "Be precise."


def test_think_tags_inside_the_new_text_are_kept() -> None:
    text = "Reason inside <think></think> tags, then give the answer after 'Answer:'."
    reply = f"<think>The old text lacks a format.</think>\n```\n{text}\n```"
    assert parse_reply(reply, CURRENT).text == text
    # Reasoning may itself hold fences; they do not open the reply's block.
    reply = "<think>maybe\n```\ndraft\n```\nno</think>\n```\nBe precise.\n```"
    assert parse_reply(reply, CURRENT).text == "Be precise."
