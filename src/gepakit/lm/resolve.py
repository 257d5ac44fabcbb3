"""`resolve_lm`: turn a user's LM spec (string, callable or object) into a wrapped `LM`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .base import LM, Completion, Message
from .cache import CachedLM
from .function_lm import FunctionLM
from .ratelimit import RateLimitedLM
from .retry import RetryingLM, find_retrying
from .usage import LedgerLM, UsageLedger, find_ledger_lm

ACCEPTED_FORMS = (
    "an LM object (anything with .complete(messages, **params)); "
    "a callable fn(prompt: str) -> str; "
    "'local' or 'local/<name>' for the embedded model; "
    "'openai/<model>' (key from OPENAI_API_KEY); "
    "any model name together with api_base=... for an OpenAI-compatible server; "
    "'<provider>/<model>' routed through LiteLLM (pip install 'gepakit[litellm]')"
)


class _DefaultParamsLM:
    """Adds default sampling params to every call of an LM object (per-call params win)."""

    def __init__(self, inner: LM, params: Mapping[str, Any]) -> None:
        self.inner = inner
        self.model = inner.model
        self.default_params = dict(params)

    def __repr__(self) -> str:
        return f"{self.inner!r}.with_params({self.default_params!r})"

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        return self.inner.complete(messages, **{**self.default_params, **params})

    async def acomplete(self, messages: Sequence[Message], **params: Any) -> Completion:
        return await self.inner.acomplete(messages, **{**self.default_params, **params})


def _client_from_string(spec: str, api_base: str | None, params: dict[str, Any]) -> LM:
    if spec == "local" or spec.startswith("local/"):
        from ..local.runtime import local_lm  # lazy: the local runtime is heavy and optional

        name = spec.partition("/")[2]
        base = local_lm(name) if name else local_lm()
        return _DefaultParamsLM(base, params) if params else base
    if spec.startswith("openai/"):
        model = spec.partition("/")[2]
        if not model:
            raise ConfigError(f"LM spec {spec!r} names no model; write e.g. 'openai/gpt-4o-mini'")
        from .openai_client import OpenAICompatibleLM

        return OpenAICompatibleLM(model, api_base=api_base, **params)
    if api_base is not None:
        from .openai_client import OpenAICompatibleLM

        return OpenAICompatibleLM(spec, api_base=api_base, **params)
    provider, _, model = spec.partition("/")
    if provider and model:
        from .litellm_client import LiteLLMLM

        return LiteLLMLM(spec, **params)
    hint = f" Did you mean 'openai/{spec}'?" if spec.startswith(("gpt-", "o1", "o3", "o4")) else ""
    raise ConfigError(f"cannot resolve LM spec {spec!r}. Accepted forms: {ACCEPTED_FORMS}.{hint}")


def _client(spec: object, api_base: str | None, params: dict[str, Any]) -> LM:
    if isinstance(spec, str):
        if not spec.strip():
            raise ConfigError(f"the LM spec is an empty string. Accepted forms: {ACCEPTED_FORMS}.")
        return _client_from_string(spec.strip(), api_base, params)
    if _is_dspy_lm(spec):  # a dspy.LM is callable but answers lists: adapt it
        from ..integrations.dspy.lm import DspyLM

        adapted = DspyLM(spec)
        return _DefaultParamsLM(adapted, params) if params else adapted
    if callable(getattr(spec, "complete", None)):
        lm: LM = spec  # pyright: ignore[reportAssignmentType]
        if not isinstance(getattr(spec, "model", None), str):
            raise ConfigError(f"LM object {spec!r} has no string attribute 'model'")
        return _DefaultParamsLM(lm, params) if params else lm
    if callable(spec):
        fn: Callable[[str], str] = spec  # pyright: ignore[reportAssignmentType]
        return FunctionLM(fn)
    raise ConfigError(
        f"cannot use {type(spec).__name__} as an LM. Accepted forms: {ACCEPTED_FORMS}."
    )


def _is_dspy_lm(spec: object) -> bool:
    """Whether `spec` is a ``dspy.BaseLM`` (checked by class, without importing dspy)."""
    return any(
        c.__name__ == "BaseLM" and c.__module__.startswith("dspy.") for c in type(spec).__mro__
    )


def _retry_options(retries: bool | int | Mapping[str, Any]) -> dict[str, Any] | None:
    if isinstance(retries, bool):
        return {} if retries else None
    if isinstance(retries, int):
        return {"max_attempts": retries} if retries > 1 else None
    return dict(retries)


def resolve_lm(
    spec: object,
    *,
    role: str,
    ledger: UsageLedger | None = None,
    cache_path: str | Path | None = None,
    api_base: str | None = None,
    retries: bool | int | Mapping[str, Any] = True,
    requests_per_minute: float | None = None,
    tokens_per_minute: float | None = None,
    **params: Any,
) -> LM:
    """Build the LM for `role` from a spec, wrapped with limits, retries, cache and ledger.

    Wrap order, innermost first: client -> `RateLimitedLM` (if a limit is set) ->
    `RetryingLM` -> `CachedLM` (if `cache_path`) -> `LedgerLM` (if `ledger`).

    An LM object that already retries (it wraps a `RetryingLM`, e.g. one `resolve_lm`
    built) gets no second retry layer: its `RetryingLM` counts its retries in `ledger`
    instead. One that already records into `ledger` is not wrapped in a second
    `LedgerLM` (calls would count twice).

    Args:
        spec: An LM object, a callable ``fn(prompt) -> str``, or a string: ``"local"``,
            ``"local/<name>"``, ``"openai/<model>"``, any model with `api_base`, or a
            LiteLLM ``"provider/model"``.
        role: Role name used in the ledger (``"task"``, ``"reflection"``).
        ledger: Usage ledger to record calls, retries and cost in.
        cache_path: SQLite file of a response cache.
        api_base: Base URL of an OpenAI-compatible server.
        retries: True for default retries, False (or 1) for none, an int for the maximum
            number of attempts, or a mapping of `RetryingLM` keyword arguments.
        requests_per_minute: Request rate limit.
        tokens_per_minute: Token rate limit.
        **params: Client options and default sampling params (temperature, max_tokens,
            timeout for OpenAI-compatible clients).

    Returns:
        An object satisfying the `LM` protocol.

    Raises:
        ConfigError: The spec has none of the accepted forms, or an option is invalid.
        MissingExtraError: The spec needs an optional package that is not installed.
    """
    lm = _client(spec, api_base, params)
    if requests_per_minute is not None or tokens_per_minute is not None:
        lm = RateLimitedLM(
            lm, requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute
        )
    options = _retry_options(retries)
    if find_retrying(lm) is None and options is not None:
        counted = ledger is not None and "on_retry" not in options
        lm = RetryingLM(lm, **options)
        if counted and ledger is not None:
            count_retries(lm, ledger, role)
    elif ledger is not None:  # it retries already: one layer, its retries in this ledger
        count_retries(lm, ledger, role)
    if cache_path is not None:
        lm = CachedLM(lm, cache_path)
    if ledger is not None and find_ledger_lm(lm, ledger) is None:
        lm = LedgerLM(lm, ledger, role, local=True if _is_local_spec(spec) else None)
    return lm


def count_retries(lm: object, ledger: UsageLedger, role: str) -> None:
    """Count the retries of the `RetryingLM` inside `lm` (if any) in `ledger` under `role`.

    Idempotent per (ledger, role): an LM resolved twice does not count retries twice.
    """
    retrying = find_retrying(lm)
    if retrying is not None:
        retrying.count_retries_in(ledger, role)


def _is_local_spec(spec: object) -> bool:
    return isinstance(spec, str) and (spec == "local" or spec.startswith("local/"))


class ReplyText(str):
    """A reply's text (a `str`) that also carries the completion's ``finish_reason``.

    Code that expects a plain string keeps working; the reflection engine reads
    ``finish_reason`` to reject replies cut off by the token limit.
    """

    finish_reason: str | None

    def __new__(cls, text: str, finish_reason: str | None = None) -> ReplyText:
        self = super().__new__(cls, text)
        self.finish_reason = finish_reason
        return self


def accepts_images(lm: object) -> bool:
    """Whether `lm` takes image content parts: False for plain functions (`FunctionLM`)
    and the embedded text-only local models, else an ``accepts_images`` attribute found
    on `lm` or an LM it wraps (``.inner``), else True."""
    seen = 0
    while lm is not None and seen < 20:
        declared = getattr(lm, "accepts_images", None)
        if isinstance(declared, bool):
            return declared
        if isinstance(lm, FunctionLM) or type(lm).__module__.startswith("gepakit.local"):
            return False
        inner = getattr(lm, "inner", None)
        if inner is None:
            return True
        lm, seen = inner, seen + 1
    return True


class PromptFn:
    """``fn(prompt) -> ReplyText``: sends `prompt` as one user message to an LM.

    `prompt` is a string, or a list of OpenAI-style content parts (text and
    ``image_url`` parts) when ``accepts_images`` is True.
    """

    def __init__(self, lm: LM, params: Mapping[str, Any]) -> None:
        self.lm = lm
        self.params = dict(params)
        self.accepts_images = accepts_images(lm)

    def __repr__(self) -> str:
        return f"PromptFn({self.lm!r}, params={self.params!r})"

    def __call__(self, prompt: str | Sequence[Mapping[str, Any]]) -> ReplyText:
        content: Any = prompt if isinstance(prompt, str) else [dict(p) for p in prompt]
        completion = self.lm.complete([{"role": "user", "content": content}], **self.params)
        return ReplyText(completion.text, completion.finish_reason)


def as_prompt_fn(lm: LM, **params: Any) -> PromptFn:
    """A ``fn(prompt) -> str`` that sends `prompt` as one user message to `lm`.

    Args:
        lm: Any LM.
        **params: Sampling params for every call (on top of the LM's own defaults).

    Returns:
        A function returning the completion text as a `ReplyText` (a `str` with the
        completion's ``finish_reason``). It also accepts a list of content parts.
    """
    return PromptFn(lm, params)
