"""The `LM` protocol: chat messages in, a completion with token usage out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

Message = Mapping[str, Any]
"""One chat message, OpenAI style: ``{"role": "user", "content": "..."}``.

`content` is a string or a list of parts (``{"type": "text", ...}``,
``{"type": "image_url", ...}``) for multimodal prompts.
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    """The reply of one LM call."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""
    cost: float | None = None
    cached: bool = False


@runtime_checkable
class LM(Protocol):
    """A chat model.

    Implementations must be thread-safe: gepakit calls `complete` from several
    worker threads at once. Raise `gepakit.errors.LMError` for failures, with
    ``transient=True`` when a retry may succeed (timeouts, 429, 5xx).
    """

    model: str

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Run one chat completion. `params` are sampling options (temperature, max_tokens)."""
        ...

    async def acomplete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Async variant of `complete`."""
        ...


def user_message(prompt: str) -> list[Message]:
    """A single user message holding `prompt`."""
    return [{"role": "user", "content": prompt}]
