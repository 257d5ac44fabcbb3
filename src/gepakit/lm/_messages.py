"""Helpers to read chat messages (internal)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .base import Message


def content_text(content: Any) -> str:
    """The text of one message `content`: a string, or the text parts of a parts list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        texts: list[str] = []
        for part in content:  # pyright: ignore[reportUnknownVariableType]
            if isinstance(part, Mapping) and part.get("type") == "text":  # pyright: ignore[reportUnknownMemberType]
                texts.append(str(part.get("text", "")))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        return "\n".join(texts)
    return str(content)


def messages_text(messages: Sequence[Message]) -> str:
    """All text contents of `messages`, joined by blank lines (roles are dropped)."""
    return "\n\n".join(t for t in (content_text(m.get("content")) for m in messages) if t)


def estimate_tokens(messages: Sequence[Message]) -> int:
    """A rough token count of `messages` (about 4 characters per token) for rate limiting."""
    return max(1, len(messages_text(messages)) // 4 + 4 * len(messages))
