"""`FunctionLM`: a plain ``fn(prompt) -> str`` callable used as an `LM`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import LMError
from ._messages import messages_text
from .base import Completion, Message


class FunctionLM:
    """Adapt ``fn(prompt: str) -> str`` to the `LM` protocol.

    The text contents of the messages are joined with blank lines into one prompt;
    roles and sampling params are not passed to `fn`. Token counts are reported as 0
    and the cost as unknown. Thread-safe when `fn` is.

    Args:
        fn: The function to call.
        model: Name reported in completions and usage.
    """

    def __init__(self, fn: Callable[[str], str], model: str = "function") -> None:
        self.fn = fn
        self.model = model

    def __repr__(self) -> str:
        name = getattr(self.fn, "__qualname__", type(self.fn).__name__)
        return f"FunctionLM({name}, model={self.model!r})"

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Call `fn` with the message text.

        Raises:
            LMError: `fn` raised (non-transient, the original error chained) or did not
                return a string. An `LMError` raised by `fn` passes through unchanged.
        """
        try:
            reply = self.fn(messages_text(messages))
        except LMError:
            raise
        except Exception as exc:
            raise LMError(
                f"{self.model}: {type(exc).__name__}: {exc}", provider="function"
            ) from exc
        if not isinstance(reply, str):
            raise LMError(
                f"{self.model}: the function returned {type(reply).__name__}, expected str",
                provider="function",
            )
        return Completion(text=reply, finish_reason="stop", model=self.model)

    async def acomplete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Run `complete` in a worker thread."""
        return await asyncio.to_thread(self.complete, messages, **params)
