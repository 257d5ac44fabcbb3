"""The LM layer: provider clients and the wrappers around them (retry, cache, limits, usage).

Build an LM from a user's spec with `resolve_lm`; every wrapper satisfies the `LM` protocol
and can be combined by hand as well. Provider SDKs are imported only when a client is built.
"""

from .base import LM, Completion, Message, user_message
from .cache import CachedLM
from .function_lm import FunctionLM
from .litellm_client import LiteLLMLM
from .openai_client import OpenAICompatibleLM
from .ratelimit import RateLimitedLM
from .redact import redact
from .resolve import as_prompt_fn, resolve_lm
from .retry import RetryingLM
from .usage import PRICES, LedgerLM, RoleUsage, UsageLedger, register_price

__all__ = [
    "LM",
    "PRICES",
    "CachedLM",
    "Completion",
    "FunctionLM",
    "LedgerLM",
    "LiteLLMLM",
    "Message",
    "OpenAICompatibleLM",
    "RateLimitedLM",
    "RetryingLM",
    "RoleUsage",
    "UsageLedger",
    "as_prompt_fn",
    "redact",
    "register_price",
    "resolve_lm",
    "user_message",
]
