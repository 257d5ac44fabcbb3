"""Parse a reflection LM's reply into the new component text, or a reason to reject it.

Every pattern here runs in linear time: a reply is LM output of any size and shape
(31 KB of blank lines once cost half a minute of CPU with ``^\\s*`` under MULTILINE),
and replies longer than `MAX_REPLY_CHARS` are rejected before any parsing.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass

MAX_REPLY_CHARS = 200_000
"""Longer replies are rejected unparsed (no instruction text needs that much)."""

_TAG_OR_FENCE = re.compile(r"```|<(/?)(think|thinking|reasoning)>", re.IGNORECASE)
_FENCE_LINE = re.compile(r"^[ \t]*```")
_HEADING_ONLY = re.compile(
    r"^\s*(#+.*|[^\n]{0,60}:|\**\s*(new|improved|updated|revised|final)?\s*"
    r"(system )?(instructions?|prompt|text)\s*\**)\s*$",
    re.IGNORECASE,
)
_PREAMBLE = re.compile(
    r"^(here (is|are)|sure|certainly|okay|ok|below is|the (new|improved|updated))\b[^\n]*:\s*\n",
    re.IGNORECASE,
)
# [ \t]* (not \s*): under MULTILINE, \s* would run across every following blank line
# from every line start, which is quadratic in the number of blank lines.
_CODE_MARKERS = re.compile(
    r"^[ \t]*(def |class |import |from \S+ import |#include|function\s)", re.MULTILINE
)


IDENTICAL = "proposed text is identical to the current text"
TRUNCATED = "the reply was cut off (finish_reason 'length') before the text was complete"
CUT_IN_REASONING = "the reply ended inside a <think> block (cut off before any text)"
EMPTY_FENCE = "the reply's fenced block is empty"


@dataclass(frozen=True, slots=True)
class ParsedReply:
    """The new text, or None with the reason it was rejected."""

    text: str | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Block:
    """A piece of a reply that may hold the new text; `closed` when its fence was closed."""

    text: str
    fenced: bool
    closed: bool


def _strip_reasoning(reply: str) -> tuple[str, bool]:
    """`reply` without reasoning blocks, and whether it ended inside an open one.

    Closed ``<think>...</think>`` blocks are removed; so is everything before a
    closing tag that has no opening one (chat templates that put ``<think>`` in the
    prompt). An opening tag that is never closed drops the rest of the reply. Tags
    inside a fenced block are part of the new text (instructions may tell a model to
    think in ``<think>`` tags) and are kept. One pass over the tags and fences: linear
    in the reply's length.
    """
    out: list[str] = []
    pos = 0
    in_think = in_fence = False
    for match in _TAG_OR_FENCE.finditer(reply):
        if match.group(0) == "```":
            if not in_think:  # fences inside reasoning do not count
                in_fence = not in_fence
            continue
        if in_fence:
            continue
        closing = match.group(1) == "/"
        if not in_think and not closing:
            out.append(reply[pos : match.start()])
            in_think = True
        elif in_think and closing:
            in_think = False
            pos = match.end()
        elif not in_think and closing:  # closes a block opened before the reply began
            out = []
            pos = match.end()
    if in_think:
        return "".join(out).strip(), True
    out.append(reply[pos:])
    return "".join(out).strip(), False


def strip_reasoning(reply: str) -> str:
    """Remove <think>...</think> style reasoning, including an unclosed leading block."""
    return _strip_reasoning(reply)[0]


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


def fenced_blocks(reply: str) -> tuple[list[Block], list[str]]:
    """The ``` blocks of `reply` in order, and the pieces of text outside them.

    A ``` opens a block (the rest of its line is an info string such as ``text``)
    and the next ``` closes it; an unclosed block runs to the end of the reply. When
    a "closing" fence carries an info string (```` ```python ````), the reply nests
    fences inside its block: then the one block runs from the first fence line to the
    last. Works line by line, so it is linear in the reply's length.
    """
    lines = reply.splitlines()
    blocks: list[Block] = []
    outside: list[str] = []
    current: list[str] | None = None
    loose: list[str] = []
    fence_rows: list[int] = []
    nested = False
    for row, line in enumerate(lines):
        head, marker, rest = line.partition("```")
        if not marker:
            (loose if current is None else current).append(line)
            continue
        fence_rows.append(row)
        if current is not None:  # closes the block; text before the fence belongs to it
            nested = nested or (not head.strip() and _INFO.match(rest) is not None)
            current.append(head)
            blocks.append(Block("\n".join(current).strip(), fenced=True, closed=True))
            current = None
            loose = [rest.strip("`")]
            continue
        loose.append(head)
        outside.append("\n".join(loose).strip())
        loose = []
        inline, closing, after = rest.partition("```")
        if closing:  # ```text``` on one line
            blocks.append(Block(inline.strip(), fenced=True, closed=True))
            loose = [after]
        else:
            current = []
    if nested and len(fence_rows) >= 3:
        return _outer_block(lines, fence_rows)
    if current is not None:
        blocks.append(Block("\n".join(current).strip(), fenced=True, closed=False))
    outside.append("\n".join(loose).strip())
    return blocks, [piece for piece in outside if piece]


_INFO = re.compile(r"`*[A-Za-z][\w+.-]*\s*$")
"""An info string after a fence (``python``, ``json``): the fence opens a block."""


def _outer_block(lines: list[str], fence_rows: list[int]) -> tuple[list[Block], list[str]]:
    """One block from the first fence line to the last (fences nested inside it)."""
    first, last = fence_rows[0], fence_rows[-1]
    closed = len(fence_rows) % 2 == 0
    end = last if closed else len(lines)
    body = "\n".join(lines[first + 1 : end]).strip()
    before = "\n".join(lines[:first]).strip()
    after = "\n".join(lines[last + 1 :]).strip() if closed else ""
    return [Block(body, fenced=True, closed=closed)], [p for p in (before, after) if p]


def candidate_blocks(reply: str) -> list[str]:
    """Fenced blocks in order, or the whole reply when there is no fence."""
    blocks = [b.text for b in fenced_blocks(reply)[0] if b.text]
    return blocks or [reply.strip()]


def parse_reply(
    reply: str,
    current_text: str,
    *,
    allow_code: bool = False,
    finish_reason: str | None = None,
) -> ParsedReply:
    """Extract the proposed text from `reply`.

    Picks the most substantive fenced block (skipping heading-only blocks such as
    ``# New instruction``; if the fences hold only a heading, takes the text after
    them). Without fences the whole reply is used, minus a chatty preamble and
    ``<think>`` reasoning. Rejects, with a recorded reason: a reply over
    `MAX_REPLY_CHARS`; empty text or an empty fenced block; a reply cut off inside
    its reasoning; a reply cut off by the token limit (`finish_reason` ``"length"``)
    unless the text came from a fenced block that was closed before the cut; text
    equal to `current_text`; repetition loops; and (unless `allow_code`) source code
    or a JSON object. When one fenced block repeats the current text, another block
    is preferred.
    """
    if not reply or not reply.strip():
        return ParsedReply(None, "empty reply")
    if len(reply) > MAX_REPLY_CHARS:
        return ParsedReply(None, f"reply too long ({len(reply)} characters > {MAX_REPLY_CHARS})")
    cleaned, cut_in_reasoning = _strip_reasoning(reply)
    if not cleaned:
        if cut_in_reasoning:
            return ParsedReply(None, CUT_IN_REASONING)
        return ParsedReply(None, "reply held only reasoning, no new text")
    truncated = finish_reason == "length" or cut_in_reasoning
    picked = _pick(cleaned, current_text)
    if isinstance(picked, ParsedReply):
        return picked
    text, complete = picked
    if truncated and not complete:
        return ParsedReply(None, TRUNCATED)
    return _check(text, current_text, allow_code=allow_code)


def _pick(cleaned: str, current_text: str) -> tuple[str, bool] | ParsedReply:
    """The chosen text and whether it is known complete (a closed fence), or a rejection."""
    blocks, outside = fenced_blocks(cleaned)
    if blocks and not any(b.text for b in blocks) and not outside:
        return ParsedReply(None, EMPTY_FENCE)
    substantive = [b for b in blocks if b.text and not _is_heading_only(b.text)]
    changed = [b for b in substantive if b.text != current_text.strip()]
    if changed:
        # A reply may quote the current text in one fence before the new one.
        best = max(changed, key=lambda b: len(b.text))
        return best.text, best.closed
    if substantive:
        best = max(substantive, key=lambda b: len(b.text))
        return best.text, best.closed
    if blocks:
        # Fences holding only a heading (or nothing): the text is usually outside them,
        # most often after them.
        texts = [piece for piece in outside if not _is_heading_only(piece)]
        if not texts:
            return ParsedReply(None, "reply held only a heading, no instruction text")
        return _PREAMBLE.sub("", texts[-1]).strip(), False
    text = _PREAMBLE.sub("", cleaned).strip()
    if not text:
        return ParsedReply(None, "empty text after removing the preamble")
    return text, False


def _check(text: str, current_text: str, *, allow_code: bool) -> ParsedReply:
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
