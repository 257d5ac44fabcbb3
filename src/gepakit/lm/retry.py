"""`RetryingLM`: exponential backoff with full jitter on transient LM errors."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..errors import ConfigError, LMError
from .base import LM, Completion, Message

RetryHook = Callable[[LMError, int, float], None]
"""Called before each retry with (error, retry number starting at 1, delay in seconds)."""


class RetryingLM:
    """Wrap an `LM` and retry calls that fail with a transient `LMError`.

    The n-th retry waits a random time in ``[0, min(max_delay, base_delay * 2**(n-1))]``
    (full jitter), or at least ``retry_after`` seconds when the server asked for it.
    Non-transient errors and other exceptions propagate at once. Thread-safe when the
    inner LM is.

    Args:
        inner: The LM to call.
        max_attempts: Calls in total, including the first one (1 disables retries).
        base_delay: Backoff of the first retry, in seconds.
        max_delay: Cap of the exponential backoff (a server's Retry-After may exceed it).
        jitter: Draw the delay uniformly below the backoff; False waits the full backoff.
        sleep: Blocking sleep, injectable for tests.
        asleep: Async sleep used by `acomplete`.
        on_retry: Hook called before each retry, e.g. to count retries in a `UsageLedger`.
        rng: Random source for jitter.

    Raises:
        ConfigError: Invalid attempt count or delays.
    """

    def __init__(
        self,
        inner: LM,
        *,
        max_attempts: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 30.0,
        jitter: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        asleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_retry: RetryHook | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, got {max_attempts}")
        if base_delay < 0 or max_delay < 0:
            raise ConfigError("base_delay and max_delay must not be negative")
        self.inner = inner
        self.model = inner.model
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.jitter = jitter
        self.on_retry = on_retry
        self._sleep = sleep
        self._asleep = asleep
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._retries = 0

    def __repr__(self) -> str:
        return f"RetryingLM({self.inner!r}, max_attempts={self.max_attempts})"

    @property
    def retries(self) -> int:
        """Retries made so far by this wrapper, over all threads."""
        with self._lock:
            return self._retries

    def delay(self, retry: int, error: LMError) -> float:
        """Seconds to wait before retry number `retry` (1-based) after `error`."""
        backoff = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        with self._lock:
            wait = self._rng.uniform(0.0, backoff) if self.jitter else backoff
        if error.retry_after is not None:
            wait = max(wait, error.retry_after)
        return wait

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Call the inner LM, retrying transient failures.

        Raises:
            LMError: A non-transient error, or the last transient one once attempts run out.
        """
        attempt = 1
        while True:
            try:
                return self.inner.complete(messages, **params)
            except LMError as error:
                wait = self._next_wait(error, attempt)
            self._sleep(wait)
            attempt += 1

    async def acomplete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Async variant of `complete`; waits with the async sleep."""
        attempt = 1
        while True:
            try:
                return await self.inner.acomplete(messages, **params)
            except LMError as error:
                wait = self._next_wait(error, attempt)
            await self._asleep(wait)
            attempt += 1

    def _next_wait(self, error: LMError, attempt: int) -> float:
        """The delay before the next attempt; raises when `error` must not be retried."""
        if not error.transient:
            raise error
        if attempt >= self.max_attempts:
            raise LMError(
                f"{error} (gave up after {attempt} attempts)",
                provider=error.provider,
                status=error.status,
                retry_after=error.retry_after,
                transient=True,
            ) from error
        wait = self.delay(attempt, error)
        with self._lock:
            self._retries += 1
        if self.on_retry is not None:
            self.on_retry(error, attempt, wait)
        return wait
