"""Parse a reflection LM's reply into the new component text, or a reason to reject it."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass

_THINK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_OPEN_THINK = re.compile(r"^.*?</(think|thinking|reasoning)>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:```|\Z)", re.DOTALL)
_HEADING_ONLY = re.compile(
    r"^\s*(#+.*|[^\n]{0,60}:|\**\s*(new|improved|updated|revised|final)?\s*"
    r"(system )?(instructions?|prompt|text)\s*\**)\s*$",
    re.IGNORECASE,
)
_PREAMBLE = re.compile(
    r"^(here (is|are)|sure|certainly|okay|ok|below is|the (new|improved|updated))\b[^\n]*:\s*\n",
    re.IGNORECASE,
)
_CODE_MARKERS = re.compile(r"^\s*(def |class |import |from \S+ import |#include|function\s)", re.M)


IDENTICAL = "proposed text is identical to the current text"


@dataclass(frozen=True, slots=True)
class ParsedReply:
    """The new text, or None with the reason it was rejected."""

    text: str | None
    reason: str = ""


def strip_reasoning(reply: str) -> str:
    """Remove <think>...</think> style reasoning, including an unclosed leading block."""
    cleaned = _THINK.sub("", reply)
    if re.search(r"</(think|thinking|reasoning)>", cleaned, re.IGNORECASE):
        cleaned = _OPEN_THINK.sub("", cleaned, count=1)
    return cleaned.strip()


def _is_heading_only(block: str) -> bool:
    lines = [ln for ln in block.strip().splitlines() if ln.strip()]
    return len(lines) <= 1 and bool(_HEADING_ONLY.match(lines[0] if lines else ""))


def _repetition_loop(text: str) -> bool:
    """True when a line or a phrase repeats so much that the reply is degenerate."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) >= 6 and len(set(lines)) <= len(lines) // 3:
        return True
    words = text.split()
    if len(words) < 40:
        return False
    grams = Counter(" ".join(words[i : i + 4]) for i in range(len(words) - 3))
    most = grams.most_common(1)[0][1]
    return most * 4 > len(words) * 0.5


def candidate_blocks(reply: str) -> list[str]:
    """Fenced blocks in order, or the whole reply when there is no fence."""
    blocks = [b.strip() for b in _FENCE.findall(reply)]
    return [b for b in blocks if b] or [reply.strip()]


def parse_reply(reply: str, current_text: str, *, allow_code: bool = False) -> ParsedReply:
    """Extract the proposed text from `reply`.

    Picks the most substantive fenced block (skipping heading-only blocks such as
    ``# New instruction``; if the fence holds only a heading, takes the text after the
    fence). Without fences the whole reply is used, minus a chatty preamble. Rejects,
    with a recorded reason, empty text, text equal to `current_text`, repetition
    loops, and (unless `allow_code`) replies that are source code or a JSON object
    (small models sometimes answer with a JSON "spec" instead of instructions).
    When one fenced block repeats the current text, another block is preferred.
    """
    if not reply or not reply.strip():
        return ParsedReply(None, "empty reply")
    cleaned = strip_reasoning(reply)
    if not cleaned:
        return ParsedReply(None, "reply held only reasoning, no new text")
    blocks = candidate_blocks(cleaned)
    substantive = [b for b in blocks if not _is_heading_only(b)]
    changed = [b for b in substantive if b.strip() != current_text.strip()]
    if changed:
        # A reply may quote the current text in one fence before the new one.
        text = max(changed, key=len)
    elif substantive:
        text = max(substantive, key=len)
    else:
        # A fence holding only a heading: the real text usually follows the fence.
        tail = cleaned.rsplit("```", 1)[-1].strip()
        if not tail or _is_heading_only(tail):
            return ParsedReply(None, "reply held only a heading, no instruction text")
        text = tail
    text = _PREAMBLE.sub("", text).strip()
    # A reply without an opening fence may still end with a stray closing one.
    text = re.sub(r"\n?```[^\n`]*\s*$", "", text).strip()
    if not text:
        return ParsedReply(None, "empty text after removing the preamble")
    if text.strip() == current_text.strip():
        return ParsedReply(None, IDENTICAL)
    if _repetition_loop(text):
        return ParsedReply(None, "reply is a repetition loop")
    if not allow_code and len(_CODE_MARKERS.findall(text)) >= 2:
        return ParsedReply(None, "reply is source code, not instruction text")
    if not allow_code and _is_json_object(text) and not _is_json_object(current_text):
        return ParsedReply(None, "reply is a JSON object, not instruction text")
    return ParsedReply(text)


def _is_json_object(text: str) -> bool:
    """True when `text` is (or tries to be) a JSON object: a structured reply, not prose.

    Broken JSON counts too: a reply opening with ``{"`` and holding ``":`` pairs is
    meant as JSON even when a small model got the syntax wrong.
    """
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[":
        return False
    try:
        value = json.loads(stripped)
    except ValueError:
        return bool(re.match(r'^[{\[]\s*"', stripped)) and '":' in stripped
    return isinstance(value, (dict, list))
