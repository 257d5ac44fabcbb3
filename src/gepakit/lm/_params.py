"""Request parameters OpenAI's API takes, and leaving the others out of requests to it."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any

OPENAI_PARAMS = frozenset(
    {
        "audio", "extra_body", "extra_headers", "extra_query", "frequency_penalty",
        "logit_bias", "logprobs", "max_completion_tokens", "max_tokens", "metadata",
        "modalities", "n", "parallel_tool_calls", "prediction", "presence_penalty",
        "prompt_cache_key", "reasoning_effort", "response_format", "safety_identifier",
        "seed", "service_tier", "stop", "store", "stream", "stream_options", "temperature",
        "timeout", "tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity",
        "web_search_options",
    }
)  # fmt: skip
"""Request parameters of OpenAI's chat-completions API (and of the SDK's create())."""

log = logging.getLogger("gepakit.lm")


def server_params(params: Mapping[str, Any], keep: Collection[str] = ()) -> list[str]:
    """The names in `params` that are no OpenAI API parameters (nor in `keep`), sorted.

    These are server-specific sampling params (llama.cpp's repeat_penalty, vLLM's
    top_k): compatible servers take them, OpenAI's own API rejects them (HTTP 400).
    """
    return sorted(k for k in params if k not in OPENAI_PARAMS and k not in keep)


class DroppedParams:
    """Warns once per parameter name that requests to `api` leave it out."""

    def __init__(self, model: str, api: str = "OpenAI") -> None:
        self.model = model
        self.api = api
        self.names: set[str] = set()

    def __call__(self, names: Collection[str]) -> None:
        new = [n for n in names if n not in self.names]
        if new:
            self.names.update(new)
            log.warning(
                "%s: not sending %s to %s (not OpenAI API parameters; they are meant "
                "for local servers such as llama.cpp)",
                self.model,
                ", ".join(new),
                self.api,
            )
