"""A `dspy.LM` seen through gepakit's `LM` protocol, so its calls reach the usage ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import dspy
from dspy.utils.usage_tracker import UsageTracker

from gepakit.errors import LMError
from gepakit.lm.base import Completion, Message
from gepakit.lm.usage import UsageLedger

_LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "0.0.0.0")


def is_local_dspy_lm(lm: Any) -> bool:
    """Whether a dspy LM talks to a server on this machine (its calls cost nothing)."""
    kwargs = getattr(lm, "kwargs", None)
    base = kwargs.get("api_base") or kwargs.get("base_url") if isinstance(kwargs, Mapping) else None
    return isinstance(base, str) and any(host in base for host in _LOOPBACK)


def _text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, Mapping) and isinstance(output.get("text"), str):
        return str(output["text"])
    raise LMError(f"the reflection LM returned {type(output).__name__}, expected text")


def _history_entry(lm: Any, outputs: Any) -> Mapping[str, Any] | None:
    """The history entry DSPy wrote for this very call (matched by identity, thread-safe)."""
    history = list(getattr(lm, "history", None) or [])[-64:]
    for entry in reversed(history):
        if isinstance(entry, Mapping) and entry.get("outputs") is outputs:
            return entry
    return None


def record_tracker(
    ledger: UsageLedger, role: str, tracker: UsageTracker, *, local: bool = False
) -> None:
    """Add every LM call a DSPy usage tracker saw to `ledger` under `role`."""
    for model, entries in tracker.usage_data.items():
        for entry in entries:
            completion = Completion(
                text="",
                prompt_tokens=int(entry.get("prompt_tokens") or 0),
                completion_tokens=int(entry.get("completion_tokens") or 0),
                model=str(model),
            )
            ledger.record(role, completion, local=local)


class DspyLM:
    """gepakit `LM` protocol over a ``dspy.BaseLM``: one text prompt in, text and usage out.

    The user's LM settings (temperature, max_tokens, cache) apply unchanged. Token counts
    come from DSPy's usage tracking and the cost from the LM's own history entry when it
    has one. Thread-safe as far as the DSPy LM is.
    """

    def __init__(self, lm: Any) -> None:
        self.lm = lm
        self.model = str(getattr(lm, "model", "dspy"))
        self.is_local = is_local_dspy_lm(lm)

    def __repr__(self) -> str:
        return f"DspyLM({self.model!r})"

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        tracker = UsageTracker()
        with dspy.context(usage_tracker=tracker):
            if len(messages) == 1 and isinstance(messages[0].get("content"), str):
                outputs = self.lm(str(messages[0]["content"]), **params)
            else:  # a system prompt plus a user message (PromptProgram), or a chat
                outputs = self.lm(messages=[dict(m) for m in messages], **params)
        if not outputs:
            raise LMError(f"{self.model} returned no completion")
        entry = _history_entry(self.lm, outputs)
        totals = tracker.get_total_tokens().get(self.lm.model, {})
        cost = entry.get("cost") if entry is not None else None
        response = entry.get("response") if entry is not None else None
        return Completion(
            text=_text(outputs[0]),
            prompt_tokens=int(totals.get("prompt_tokens") or 0),
            completion_tokens=int(totals.get("completion_tokens") or 0),
            model=self.model,
            cost=float(cost) if isinstance(cost, (int, float)) else None,
            cached=bool(getattr(response, "cache_hit", False)),
        )

    async def acomplete(self, messages: Sequence[Message], **params: Any) -> Completion:
        return await asyncio.to_thread(self.complete, messages, **params)
