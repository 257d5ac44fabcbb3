"""Tidy a proposed text: undo the ways small reflection LMs echo their own prompt.

When the reflection prompt shows a shape to fill in (``<the task, in one sentence>``),
small models often keep the angle brackets around what they wrote, or copy a line of
the shape back nearly word for word ("If the input describes a kind of input in
general words, answer the right answer."). Neither helps the task LM; both make the
optimized prompt look broken. These functions remove them and nothing else: a text
with no echo comes back unchanged.
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


def sentences(text: str) -> list[str]:
    """The non-empty sentences of `text`, split after ``.``, ``!`` or ``?``."""
    return [s for s in (part.strip() for part in _SENTENCE_END.split(text)) if s]


def line_key(line: str) -> str:
    """`line` with whitespace collapsed and case folded: equal keys, same line."""
    return " ".join(line.split()).casefold()


def unwrap_brackets(text: str) -> str:
    """Remove angle brackets that wrap a whole line: ``<Classify ...>`` -> ``Classify ...``.

    Lines holding other brackets (markup such as ``<answer>...</answer>``) are kept.
    """
    lines = []
    for line in text.splitlines():
        match = _WRAPPED.match(line)
        lines.append(f"{match[1]}{match[2].strip()}{match[3]}" if match else line)
    return "\n".join(lines)


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.casefold()))


def _similarity(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def drop_echoes(text: str, prompt: str) -> str:
    """Drop sentences of `text` that repeat a sentence or line of `prompt`.

    Args:
        text: the proposed text.
        prompt: the prompt template (or prompt) the reflection LM was given.

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
    kept_lines: list[str] = []
    changed = False
    for line in text.splitlines():
        parts = sentences(line)
        kept = [
            s
            for s in parts
            if len(words := _words(s)) < MIN_ECHO_WORDS
            or max(_similarity(words, ref) for ref in references) < ECHO_SIMILARITY
        ]
        if len(kept) == len(parts):
            kept_lines.append(line)
            continue
        changed = True
        if kept:
            kept_lines.append(" ".join(kept))
    return "\n".join(kept_lines) if changed else text


def drop_duplicate_lines(text: str) -> str:
    """Keep only the first of identical non-empty lines (small models repeat rules)."""
    seen: set[str] = set()
    lines = []
    for line in text.splitlines():
        key = line_key(line)
        if key and key in seen:
            continue
        seen.add(key)
        lines.append(line)
    return "\n".join(lines)


def tidy_proposal(text: str, prompt: str) -> str:
    """`text` with wrapping brackets, echoes of `prompt` and repeated lines removed."""
    tidied = drop_duplicate_lines(drop_echoes(unwrap_brackets(text), prompt))
    return re.sub(r"\n{3,}", "\n\n", tidied).strip()
