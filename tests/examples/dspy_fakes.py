"""A scripted DSPy LM for the examples' smoke tests (a fake, not a model).

`FunctionLM(fn)` answers every call with the output fields ``fn(messages)`` returns,
formatted by DSPy's chat adapter exactly as DSPy's own `DummyLM` formats them, so the
answer may depend on the instructions in the system message (which `DummyLM`'s
lookup modes cannot see).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from dspy.clients.engines.dummy_engine import AsyncDummyEngine, DummyEngine
from dspy.utils.dummies import DummyLM

Fields = Mapping[str, Any]


class _FunctionEngine(DummyEngine):
    def _complete_messages(self, messages: list[dict[str, Any]]) -> Any:
        owner: Any = self.owner
        with owner.lock:
            owner.answers = iter([owner.fn(messages)])
            return super()._complete_messages(messages)


class FunctionLM(DummyLM):
    """A DummyLM whose answer is computed from the messages by `fn`."""

    def __init__(self, fn: Callable[[list[dict[str, Any]]], Fields]) -> None:
        super().__init__([])
        self.fn = fn
        self.lock = threading.Lock()
        self._install()

    def _install(self) -> None:
        self._engine_spec = _FunctionEngine(self)
        self._async_engine_spec = AsyncDummyEngine(self._engine_spec)

    def copy(self, **kwargs: Any) -> FunctionLM:
        copied: Any = super().copy(**kwargs)
        copied.fn, copied.lock = self.fn, threading.Lock()
        copied._install()
        return copied


def system_text(messages: list[dict[str, Any]]) -> str:
    """The system message (where DSPy puts a predictor's instructions)."""
    return next((str(m["content"]) for m in messages if m.get("role") == "system"), "")


def last_user_text(messages: list[dict[str, Any]]) -> str:
    return next((str(m["content"]) for m in reversed(messages) if m.get("role") == "user"), "")
