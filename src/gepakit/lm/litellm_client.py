"""`LiteLLMLM`: "provider/model" strings routed through LiteLLM (optional extra)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

from ..errors import LMError, MissingExtraError
from ._http import is_transient_status, parse_retry_after
from ._params import DroppedParams, server_params
from .base import Completion, Message
from .redact import redact

# LiteLLM exception class names that mean "try again later" even without a status code.
_TRANSIENT_NAMES = frozenset(
    {
        "Timeout",
        "APITimeoutError",
        "APIConnectionError",
        "ServiceUnavailableError",
        "RateLimitError",
    }
)


OPENAI_APIS = {"openai": "OpenAI", "azure": "Azure OpenAI"}
"""LiteLLM providers that serve OpenAI's own API, which rejects parameters it does not know."""


def _import_litellm() -> Any:
    try:
        import litellm  # pyright: ignore[reportMissingImports]
    except ImportError:
        raise MissingExtraError("litellm", "litellm") from None
    return litellm  # pyright: ignore[reportUnknownVariableType]


class LiteLLMLM:
    """An `LM` for any LiteLLM model string (``"anthropic/claude-sonnet-4-20250514"``).

    Keys come from the provider's usual environment variables, as LiteLLM reads them.
    LiteLLM's own retries are off; wrap in `RetryingLM`.

    LiteLLM sends a parameter that is neither OpenAI's nor its own to the provider as a
    provider-specific one (Anthropic's top_k, Ollama's options). OpenAI's own API
    (``openai/...`` unless api_base or OPENAI_BASE_URL names another server;
    ``azure/...``) rejects those with HTTP 400, so they are left out of its requests
    with one warning, as `OpenAICompatibleLM` does: server-specific params such as
    llama.cpp's repeat_penalty.

    Args:
        model: LiteLLM model string, ``"provider/model"``.
        **params: Default options for every call (temperature, max_tokens, api_base ...).

    Raises:
        MissingExtraError: LiteLLM is not installed.
    """

    def __init__(self, model: str, **params: Any) -> None:
        self._litellm = _import_litellm()
        self.model = model
        self.provider = model.split("/", 1)[0]
        self.default_params: dict[str, Any] = dict(params)
        self._dropped = DroppedParams(model, OPENAI_APIS.get(self.provider, self.provider))
        self._own = _litellm_params(self._litellm)

    def __repr__(self) -> str:
        return f"LiteLLMLM(model={self.model!r})"

    def _request(self, messages: Sequence[Message], params: dict[str, Any]) -> dict[str, Any]:
        merged = {**self.default_params, **params}
        if self._to_openai(merged):
            dropped = server_params(merged, keep=self._own)
            for name in dropped:
                del merged[name]
            self._dropped(dropped)
        return {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "num_retries": 0,
            **merged,
        }

    def _to_openai(self, params: dict[str, Any]) -> bool:
        """Whether the request goes to OpenAI's own API (not a compatible server)."""
        if self.provider == "openai":  # where LiteLLM sends it, in LiteLLM's order
            base = (
                params.get("api_base")
                or params.get("base_url")
                or getattr(self._litellm, "api_base", None)
                or os.environ.get("OPENAI_BASE_URL")
                or os.environ.get("OPENAI_API_BASE")
            )
            return not base or urlparse(str(base)).hostname == "api.openai.com"
        return self.provider == "azure"

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Run one chat completion through ``litellm.completion``.

        Raises:
            LMError: The call failed; ``transient`` tells whether a retry may succeed.
        """
        try:
            response = self._litellm.completion(**self._request(messages, params))
        except Exception as exc:
            raise self._to_lm_error(exc) from None
        return self._parse(response)

    async def acomplete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Async variant of `complete`, through ``litellm.acompletion``."""
        try:
            response = await self._litellm.acompletion(**self._request(messages, params))
        except Exception as exc:
            raise self._to_lm_error(exc) from None
        return self._parse(response)

    def _to_lm_error(self, exc: Exception) -> LMError:
        status = getattr(exc, "status_code", None)
        status = status if isinstance(status, int) else None
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        transient = type(exc).__name__ in _TRANSIENT_NAMES or (
            status is not None and is_transient_status(status)
        )
        return LMError(
            redact(f"{self.model}: {type(exc).__name__}: {exc}"),
            provider=self.provider,
            status=status,
            retry_after=parse_retry_after(headers) if headers is not None else None,
            transient=transient,
        )

    def _parse(self, response: Any) -> Completion:
        choices = getattr(response, "choices", None)
        if not choices:
            raise LMError(
                f"{self.model}: malformed response: no choices",
                provider=self.provider,
                transient=True,
            )
        content = getattr(getattr(choices[0], "message", None), "content", None)
        if not isinstance(content, str):
            raise LMError(
                f"{self.model}: malformed response: message content is None",
                provider=self.provider,
                transient=True,
            )
        usage = getattr(response, "usage", None)
        return Completion(
            text=content,
            finish_reason=getattr(choices[0], "finish_reason", None),
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            model=str(getattr(response, "model", None) or self.model),
        )


def _litellm_params(litellm: Any) -> frozenset[str]:
    """LiteLLM's own keyword arguments (api_base, api_version, num_retries ...) and the
    OpenAI ones it translates: never provider-specific, so never left out."""
    names = {"drop_params", "additional_drop_params"}
    names.update(inspect.signature(litellm.completion).parameters)
    for table in ("all_litellm_params", "OPENAI_CHAT_COMPLETION_PARAMS"):
        names.update(getattr(litellm, table, ()))
    return frozenset(names)
