"""Tidy a proposed text: undo the ways small reflection LMs echo their own prompt.

Used by the compact profile (`gepakit.engine.profiles.compact`) only. When the
reflection prompt shows a shape to fill in (``<the task, in one sentence>``), small
models often keep the angle brackets around what they wrote, copy a line of the shape
back nearly word for word ("If the input describes a kind of input in general words,
answer the right answer."), or repeat a rule. These functions remove those echoes and
nothing else: a text with no echo comes back unchanged, and nothing that the current
text (the user's own) already holds is touched: its ``<title>`` placeholders, repeated
``---`` separators and ``Example:`` labels stay as they are.
"""

from __future__ import annotations

import re

__all__ = [
    "drop_duplicate_lines",
    "drop_echoes",
    "line_key",
    "sentences",
    "tidy_proposal",
    "unwrap_brackets",
]

_WRAPPED = re.compile(r"^(\s*)<([^<>]+)>(\s*)$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[a-z0-9_']+")
ECHO_SIMILARITY = 0.7
"""Word-set overlap (Jaccard) at or above which a sentence counts as an echo."""
MIN_ECHO_WORDS = 5
"""Shorter sentences are never dropped: short phrases coincide by chance."""
MIN_UNWRAP_WORDS = 3
"""A bracketed line is unwrapped only from this many words: ``<title>`` is a placeholder."""
MIN_REPEAT_WORDS = 4
"""A repeated line is dropped only from this many words: separators and labels repeat."""


def sentences(text: str) -> list[str]:
    """The non-empty sentences of `text`, split after ``.``, ``!`` or ``?``."""
    return [s for s in (part.strip() for part in _SENTENCE_END.split(text)) if s]


def line_key(line: str) -> str:
    """`line` with whitespace collapsed and case folded: equal keys, same line."""
    return " ".join(line.split()).casefold()


def _keys(text: str) -> set[str]:
    return {line_key(line) for line in text.splitlines()}


def unwrap_brackets(text: str, current_text: str = "") -> str:
    """Remove angle brackets that wrap a whole line: ``<Classify the ...>`` -> ``Classify the ...``.

    Only a filled-in slot is unwrapped: prose of `MIN_UNWRAP_WORDS` or more words that
    ends a sentence (``.``, ``!``, ``?``). Placeholders the text means, such as
    ``<title>`` or ``<summary in three sentences>``, are kept, and so is any line that
    `current_text` holds as it is. Lines holding other brackets (markup such as
    ``<answer>...</answer>``) are kept.
    """
    own = _keys(current_text)
    lines = []
    for line in text.splitlines():
        match = _WRAPPED.match(line)
        echo = (
            match is not None
            and len(match[2].split()) >= MIN_UNWRAP_WORDS
            and match[2].rstrip().endswith((".", "!", "?"))
            and line_key(line) not in own
        )
        lines.append(f"{match[1]}{match[2].strip()}{match[3]}" if match and echo else line)
    return "\n".join(lines)


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.casefold()))


def _similarity(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def drop_echoes(text: str, prompt: str, current_text: str = "") -> str:
    """Drop sentences of `text` that repeat a sentence or line of `prompt`.

    Args:
        text: the proposed text.
        prompt: the prompt template the reflection LM was given (not the filled-in
            prompt: the examples and the current text are not echoes).
        current_text: the text being improved; its own sentences are never dropped.

    Returns:
        `text` without the echoed sentences; empty lines left behind are removed.
    """
    references = [
        words
        for piece in re.split(r"[\n]|(?<=[.!?])\s+", prompt.replace("<", " ").replace(">", " "))
        if len(words := _words(piece)) >= MIN_ECHO_WORDS
    ]
    if not references:
        return text
    own = {line_key(s) for s in sentences(current_text)} | _keys(current_text)
    kept_lines: list[str] = []
    changed = False
    for line in text.splitlines():
        parts = sentences(line)
        kept = [
            s
            for s in parts
            if len(words := _words(s)) < MIN_ECHO_WORDS
            or line_key(s) in own
            or max(_similarity(words, ref) for ref in references) < ECHO_SIMILARITY
        ]
        if len(kept) == len(parts):
            kept_lines.append(line)
            continue
        changed = True
        if kept:
            kept_lines.append(" ".join(kept))
    return "\n".join(kept_lines) if changed else text


def drop_duplicate_lines(text: str, current_text: str = "") -> str:
    """Keep only the first of identical lines of `MIN_REPEAT_WORDS` or more words.

    Small models repeat rules. Shorter lines (``---``, ``Example:``, ``Answer:``) repeat
    on purpose in structured texts and are kept, as is every repeat that
    `current_text` has too (as often as it has it).
    """
    allowed: dict[str, int] = {}
    for line in current_text.splitlines():
        allowed[line_key(line)] = allowed.get(line_key(line), 0) + 1
    seen: dict[str, int] = {}
    lines = []
    for line in text.splitlines():
        key = line_key(line)
        count = seen.get(key, 0)
        if len(key.split()) >= MIN_REPEAT_WORDS and count >= max(1, allowed.get(key, 0)):
            continue
        seen[key] = count + 1
        lines.append(line)
    return "\n".join(lines)


def tidy_proposal(text: str, prompt: str, current_text: str = "") -> str:
    """`text` with wrapping brackets, echoes of `prompt` and repeated rules removed.

    Args:
        text: the proposed text.
        prompt: the template the reflection LM answered.
        current_text: the text being improved; nothing it holds is removed or changed.
    """
    tidied = unwrap_brackets(text, current_text)
    tidied = drop_duplicate_lines(drop_echoes(tidied, prompt, current_text), current_text)
    tidied = re.sub(r"\n{3,}", "\n\n", tidied).strip()
    # Blank runs are collapsed only when something was removed: a clean text is returned as is.
    return text.strip() if tidied == re.sub(r"\n{3,}", "\n\n", text).strip() else tidied
