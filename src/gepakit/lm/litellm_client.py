"""`LiteLLMLM`: "provider/model" strings routed through LiteLLM (optional extra)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import LMError, MissingExtraError
from ._http import is_transient_status, parse_retry_after
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

    def __repr__(self) -> str:
        return f"LiteLLMLM(model={self.model!r})"

    def _request(self, messages: Sequence[Message], params: dict[str, Any]) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "num_retries": 0,
            **self.default_params,
            **params,
        }

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
