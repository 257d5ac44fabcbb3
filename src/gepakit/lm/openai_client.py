"""`OpenAICompatibleLM`: chat completions through the `openai` SDK.

Works with OpenAI and any server that speaks the same API (vLLM, llama.cpp, Ollama ...).
The SDK's own retries are off: wrap the client in `RetryingLM` (``resolve_lm`` does).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlparse

from ..errors import ConfigError, LMError, MissingExtraError
from ._http import is_transient_status, parse_retry_after
from ._params import OPENAI_PARAMS as OPENAI_PARAMS  # its home was here
from ._params import DroppedParams, server_params
from .base import Completion, Message
from .redact import redact

if TYPE_CHECKING:
    import openai  # pyright: ignore[reportMissingImports]

LOCAL_KEY = "not-needed"
"""Placeholder key sent to local servers that do not check keys."""

_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})


def _import_openai() -> Any:
    try:
        import openai  # pyright: ignore[reportMissingImports]
    except ImportError:
        raise MissingExtraError("openai", "openai") from None
    return openai


def is_local_url(url: str | None) -> bool:
    """Whether `url` points at this machine (a local server costs nothing)."""
    if not url:
        return False
    return (urlparse(url).hostname or "") in _LOCAL_HOSTS


class OpenAICompatibleLM:
    """An `LM` backed by an OpenAI-compatible chat-completions endpoint.

    Thread-safe: the sync SDK client is shared by all threads; an async client is made per
    event loop. The API key is read from the environment (``api_key_env``) unless given,
    and never appears in repr, logs or error messages.

    Args:
        model: Model name as the server knows it (``"gpt-4o-mini"``).
        api_base: Base URL of a compatible server (``"http://localhost:8000/v1"``);
            None means OpenAI.
        api_key: Explicit key; prefer the environment variable.
        api_key_env: Environment variable holding the key.
        timeout: Seconds to wait for one request.
        **default_params: Sampling options sent with every call (temperature, max_tokens);
            per-call params override them.

    Raises:
        MissingExtraError: The `openai` package is not installed.
        ConfigError: No key is available and no `api_base` is given.
    """

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60.0,
        **default_params: Any,
    ) -> None:
        self._openai = _import_openai()
        base = api_base or os.environ.get("OPENAI_BASE_URL")
        key = api_key or os.environ.get(api_key_env) or (LOCAL_KEY if base else None)
        if key is None:
            raise ConfigError(
                f"no API key for model {model!r}: the environment variable {api_key_env} is "
                "not set. Export it, or pass api_base=... for a local server that needs no key."
            )
        self.model = model
        self.api_base = api_base
        self.timeout = timeout
        self.default_params: dict[str, Any] = dict(default_params)
        self._key = key
        self._client: openai.OpenAI = self._openai.OpenAI(
            api_key=key, base_url=api_base, timeout=timeout, max_retries=0
        )
        # Where requests really go: api_base, else OPENAI_BASE_URL, else api.openai.com.
        self.base_url = str(self._client.base_url)
        official = (urlparse(self.base_url).hostname or "") == "api.openai.com"
        self.provider = "openai" if official else "openai-compatible"
        self.is_local = is_local_url(self.base_url)
        self._async_clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, openai.AsyncOpenAI
        ] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._dropped = DroppedParams(model)

    def __repr__(self) -> str:
        base = f", api_base={redact(self.api_base)!r}" if self.api_base else ""
        return f"OpenAICompatibleLM(model={self.model!r}{base})"

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Run one chat completion.

        Raises:
            LMError: The request failed; ``transient`` tells whether a retry may succeed.
        """
        try:
            response = self._client.chat.completions.create(**self._request(messages, params))
        except Exception as exc:
            raise self._to_lm_error(exc) from None
        return self._parse(response)

    async def acomplete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Async variant of `complete`, through `openai.AsyncOpenAI`."""
        client = self._async_client()
        try:
            response = await client.chat.completions.create(**self._request(messages, params))
        except Exception as exc:
            raise self._to_lm_error(exc) from None
        return self._parse(response)

    def close(self) -> None:
        """Close the HTTP connections of the sync client."""
        self._client.close()

    async def aclose(self) -> None:
        """Close the async client of the running event loop, if one was made."""
        with self._lock:
            client = self._async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def _async_client(self) -> openai.AsyncOpenAI:
        # httpx async pools are bound to the loop that created them, so keep one per loop.
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._async_clients.get(loop)
            if client is None:
                client = self._openai.AsyncOpenAI(
                    api_key=self._key, base_url=self.api_base, timeout=self.timeout, max_retries=0
                )
                self._async_clients[loop] = client
            return client

    def _request(self, messages: Sequence[Message], params: dict[str, Any]) -> dict[str, Any]:
        merged = {**self.default_params, **params}
        extra = {k: merged.pop(k) for k in server_params(merged)}
        if extra:
            # Server-specific sampling params go in the request body for compatible
            # servers; OpenAI itself rejects them.
            if self._official:
                self._dropped(list(extra))
            else:
                merged["extra_body"] = {**extra, **dict(merged.get("extra_body") or {})}
        messages_out = [_encodable_message(m) for m in messages]
        return {"model": self.model, "messages": messages_out, **merged}

    @property
    def _official(self) -> bool:
        return self.provider == "openai"  # from base_url: api_base, OPENAI_BASE_URL or OpenAI

    def _error(self, message: str, **fields: Any) -> LMError:
        text = redact(f"{self.model}: {message}", [self._key])
        return LMError(text, provider=self.provider, **fields)

    def _to_lm_error(self, exc: Exception) -> LMError:
        sdk = self._openai
        if isinstance(exc, LMError):
            return exc
        where = redact(self.base_url)
        if isinstance(exc, sdk.APITimeoutError):
            return self._error(
                f"request to {where} timed out after {self.timeout}s", transient=True
            )
        if isinstance(exc, sdk.APIConnectionError):
            return self._error(f"cannot connect to {where}: {exc}", transient=True)
        if isinstance(exc, sdk.APIStatusError):
            status_error = cast("openai.APIStatusError", exc)
            status: int = status_error.status_code
            return self._error(
                f"HTTP {status} from {where}: {status_error.message}",
                status=status,
                retry_after=parse_retry_after(status_error.response.headers),
                transient=is_transient_status(status),
            )
        # A body that is not JSON surfaces as JSONDecodeError; other ValueErrors are usually
        # bad arguments, which a retry cannot fix.
        if isinstance(exc, (sdk.APIResponseValidationError, json.JSONDecodeError)):
            return self._error(f"malformed response from {where}: {exc}", transient=True)
        if isinstance(exc, sdk.OpenAIError):
            return self._error(f"{type(exc).__name__}: {exc}", transient=False)
        raise exc

    def _parse(self, response: Any) -> Completion:
        choices = getattr(response, "choices", None)
        if not choices:
            raise self._error(
                f"malformed response from {redact(self.base_url)}: no choices", transient=True
            )
        choice = choices[0]
        message = getattr(choice, "message", None)
        content = getattr(message, "content", None)
        if not isinstance(content, str):
            refusal = getattr(message, "refusal", None)
            detail = f" (refusal: {refusal})" if refusal else ""
            raise self._error(
                f"malformed response: message content is None{detail}", transient=True
            )
        usage = getattr(response, "usage", None)
        return Completion(
            text=content,
            finish_reason=getattr(choice, "finish_reason", None),
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            model=str(getattr(response, "model", None) or self.model),
        )


def _encodable(text: str) -> str:
    """`text` with lone surrogates (which cannot be sent as UTF-8) replaced by U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _encodable_message(message: Any) -> dict[str, Any]:
    out = dict(message)
    content = out.get("content")
    if isinstance(content, str):
        out["content"] = _encodable(content)
    elif isinstance(content, list):
        out["content"] = [
            {**part, "text": _encodable(part["text"])}
            if isinstance(part, dict) and isinstance(part.get("text"), str)
            else part
            for part in cast("list[Any]", content)
        ]
    return out
