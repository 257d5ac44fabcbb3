"""Small in-memory LMs for the wrapper tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from gepakit.errors import LMError
from gepakit.lm import Completion, Message
from gepakit.lm._messages import messages_text


class CountingLM:
    """Replies ``"<prompt> #<n>"`` where n counts calls; optional scripted errors first."""

    def __init__(
        self, model: str = "gpt-4o-mini", errors: Sequence[LMError] = (), tokens: int = 10
    ) -> None:
        self.model = model
        self.errors = list(errors)
        self.tokens = tokens
        self.calls = 0
        self.params: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        with self._lock:
            self.calls += 1
            self.params.append(params)
            n = self.calls
            if self.errors:
                raise self.errors.pop(0)
        return Completion(
            text=f"{messages_text(messages)} #{n}",
            prompt_tokens=self.tokens,
            completion_tokens=self.tokens,
            model=self.model,
        )

    async def acomplete(self, messages: Sequence[Message], **params: Any) -> Completion:
        return self.complete(messages, **params)
