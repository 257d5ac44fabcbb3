"""`RateLimitedLM`: token-bucket limits on requests and tokens per minute."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..errors import ConfigError
from ._messages import estimate_tokens
from .base import LM, Completion, Message


class TokenBucket:
    """A bucket holding up to `capacity` units, refilled at `rate` units per second.

    `reserve` takes units at once, letting the level go negative, and returns how long the
    caller must wait before using them. Waiters are thus served in arrival order without
    holding the lock while they sleep. Thread-safe.
    """

    def __init__(self, capacity: float, rate: float, clock: Callable[[], float]) -> None:
        self.capacity = capacity
        self.rate = rate
        self._clock = clock
        self._level = capacity
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self) -> float:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate)
        self._stamp = now
        return now

    def reserve(self, amount: float) -> float:
        """Take `amount` units (at most `capacity`); return the seconds to wait for them."""
        with self._lock:
            self._refill()
            self._level -= min(amount, self.capacity)
            return 0.0 if self._level >= 0 else -self._level / self.rate

    def adjust(self, delta: float) -> None:
        """Take `delta` more units (or give back when negative) without waiting."""
        with self._lock:
            self._refill()
            self._level = min(self.capacity, self._level - delta)


class RateLimitedLM:
    """Wrap an `LM` so that all threads using this instance stay under per-minute limits.

    A request reserves one request unit and its estimated tokens (about 4 characters per
    token of the messages plus ``max_tokens``); once the reply arrives the token bucket is
    corrected with the real usage. Either bucket may burst up to one minute's allowance.

    Args:
        inner: The LM to call.
        requests_per_minute: Request limit, or None for no limit.
        tokens_per_minute: Prompt plus completion token limit, or None for no limit.
        clock: Monotonic clock in seconds, injectable for tests.
        sleep: Blocking sleep, injectable for tests.
        asleep: Async sleep used by `acomplete`.

    Raises:
        ConfigError: A limit is not positive.
    """

    def __init__(
        self,
        inner: LM,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        asleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        for name, value in (("requests", requests_per_minute), ("tokens", tokens_per_minute)):
            if value is not None and value <= 0:
                raise ConfigError(f"{name}_per_minute must be positive, got {value}")
        self.inner = inner
        self.model = inner.model
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self._sleep = sleep
        self._asleep = asleep
        self._requests = (
            TokenBucket(requests_per_minute, requests_per_minute / 60.0, clock)
            if requests_per_minute
            else None
        )
        self._tokens = (
            TokenBucket(tokens_per_minute, tokens_per_minute / 60.0, clock)
            if tokens_per_minute
            else None
        )

    def __repr__(self) -> str:
        return (
            f"RateLimitedLM({self.inner!r}, requests_per_minute={self.requests_per_minute}, "
            f"tokens_per_minute={self.tokens_per_minute})"
        )

    def _reserve(self, messages: Sequence[Message], params: dict[str, Any]) -> tuple[float, int]:
        wait = 0.0
        estimate = 0
        if self._requests is not None:
            wait = self._requests.reserve(1)
        if self._tokens is not None:
            max_tokens = params.get("max_tokens") or params.get("max_completion_tokens") or 0
            estimate = estimate_tokens(messages) + int(max_tokens)
            wait = max(wait, self._tokens.reserve(estimate))
        return wait, estimate

    def _settle(self, completion: Completion, estimate: int) -> None:
        used = completion.prompt_tokens + completion.completion_tokens
        # A reply without usage keeps the estimate: giving it back would overshoot the limit.
        if self._tokens is not None and used > 0:
            self._tokens.adjust(used - estimate)

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Wait for capacity, then call the inner LM."""
        wait, estimate = self._reserve(messages, params)
        if wait > 0:
            self._sleep(wait)
        completion = self.inner.complete(messages, **params)
        self._settle(completion, estimate)
        return completion

    async def acomplete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Async variant of `complete`."""
        wait, estimate = self._reserve(messages, params)
        if wait > 0:
            await self._asleep(wait)
        completion = await self.inner.acomplete(messages, **params)
        self._settle(completion, estimate)
        return completion
