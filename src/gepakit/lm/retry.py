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

_CANCELLED = threading.Event()


def cancel_retries() -> None:
    """Stop every `RetryingLM` of this process from retrying (a run is being stopped).

    Waits in progress end at once; calls that would retry raise a transient `LMError`.
    `gepakit.optimize` calls it on the first Ctrl-C and `allow_retries` when it starts.
    """
    _CANCELLED.set()


def allow_retries() -> None:
    """Undo `cancel_retries`."""
    _CANCELLED.clear()


def retries_cancelled() -> bool:
    """Whether `cancel_retries` is in effect."""
    return _CANCELLED.is_set()


_deadline_lock = threading.Lock()
_deadline: float | None = None


def set_retry_deadline(deadline: float | None) -> None:
    """No `RetryingLM` of this process starts a wait that ends after `deadline`.

    `deadline` is a `time.monotonic()` value, or None for no deadline. `gepakit.optimize`
    sets it from ``timeout=`` so a run stops on time even while an LM is failing: a call
    whose next retry would end past the deadline raises a transient `LMError` instead
    (the rollout is not recorded and a resume retries it). Process-wide, like
    `cancel_retries`.
    """
    global _deadline
    with _deadline_lock:
        _deadline = deadline


def retry_deadline() -> float | None:
    """The deadline set by `set_retry_deadline`, or None."""
    with _deadline_lock:
        return _deadline


class RetryingLM:
    """Wrap an `LM` and retry calls that fail with a transient `LMError`.

    The n-th retry waits a random time in ``[0, min(max_delay, base_delay * 2**(n-1))]``
    (full jitter), or at least ``retry_after`` seconds when the server asked for it,
    capped by `max_delay` too (a server asking 120 s does not stall a run for minutes).
    With `max_elapsed`, a call gives up as soon as the next wait would end past that many
    seconds after its first attempt. Non-transient errors and other exceptions propagate
    at once. Thread-safe when the inner LM is. This is the one retry layer: provider
    clients do not retry, and `resolve_lm` never stacks a second `RetryingLM`.

    Args:
        inner: The LM to call.
        max_attempts: Calls in total, including the first one (1 disables retries).
        base_delay: Backoff of the first retry, in seconds.
        max_delay: Cap of every wait, the exponential backoff and a server's Retry-After.
        max_elapsed: Give up once the next wait would end later than this many seconds
            after the first attempt (None: bounded by attempts and delays only).
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
        max_elapsed: float | None = None,
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ConfigError(f"max_attempts must be an integer >= 1, got {max_attempts!r}")
        if not base_delay >= 0 or not max_delay >= 0:
            raise ConfigError("base_delay and max_delay must be numbers >= 0")
        if max_elapsed is not None and not max_elapsed > 0:
            raise ConfigError(f"max_elapsed must be positive seconds, got {max_elapsed!r}")
        self.inner = inner
        self.model = inner.model
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.jitter = jitter
        self.max_elapsed = max_elapsed
        self.on_retry = on_retry
        self._hooks: list[RetryHook] = []
        self._ledgers: list[tuple[Any, str]] = []
        self._sleep = sleep
        self._asleep = asleep
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._retries = 0

    def __repr__(self) -> str:
        return f"RetryingLM({self.inner!r}, max_attempts={self.max_attempts})"

    def add_retry_hook(self, hook: RetryHook) -> None:
        """Also call `hook` before each retry (e.g. to count retries in another ledger)."""
        with self._lock:
            self._hooks.append(hook)

    def count_retries_in(self, ledger: Any, role: str) -> None:
        """Count each retry in `ledger` (a `UsageLedger`) under `role`, once per pair."""
        with self._lock:
            if not any(known is ledger and r == role for known, r in self._ledgers):
                self._ledgers.append((ledger, role))

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
            wait = max(wait, min(error.retry_after, self.max_delay))
        return wait

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Call the inner LM, retrying transient failures.

        Raises:
            LMError: A non-transient error, or the last transient one once attempts run out.
        """
        attempt, started = 1, time.monotonic()
        while True:
            try:
                return self.inner.complete(messages, **params)
            except LMError as error:
                wait = self._next_wait(error, attempt, started)
                if self._sleep is time.sleep:  # a cancel ends the wait at once
                    if _CANCELLED.wait(wait):
                        raise _cancelled(error, attempt) from error
                else:
                    self._sleep(wait)
            attempt += 1

    async def acomplete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Async variant of `complete`; waits with the async sleep."""
        attempt, started = 1, time.monotonic()
        while True:
            try:
                return await self.inner.acomplete(messages, **params)
            except LMError as error:
                wait = self._next_wait(error, attempt, started)
            await self._asleep(wait)
            attempt += 1

    def _next_wait(self, error: LMError, attempt: int, started: float) -> float:
        """The delay before the next attempt; raises when `error` must not be retried."""
        if not error.transient:
            raise error
        if _CANCELLED.is_set():
            raise _cancelled(error, attempt) from error
        if attempt >= self.max_attempts:
            raise _gave_up(error, f"gave up after {attempt} attempts") from error
        wait = self.delay(attempt, error)
        if self.max_elapsed is not None:
            elapsed = time.monotonic() - started
            if elapsed + wait > self.max_elapsed:
                raise _gave_up(
                    error,
                    f"gave up after {attempt} attempts in {elapsed:.1f}s, the retry "
                    f"limit is {self.max_elapsed:g}s",
                ) from error
        deadline = retry_deadline()
        if deadline is not None and time.monotonic() + wait > deadline:
            raise _gave_up(
                error, f"not retried after {attempt} attempts: the run's timeout is near"
            ) from error
        with self._lock:
            self._retries += 1
            hooks = [*([self.on_retry] if self.on_retry is not None else []), *self._hooks]
            ledgers = list(self._ledgers)
        for ledger, role in ledgers:
            ledger.record_retry(role)
        for hook in hooks:
            hook(error, attempt, wait)
        return wait


def _gave_up(error: LMError, why: str) -> LMError:
    return LMError(
        f"{error} ({why})",
        provider=error.provider,
        status=error.status,
        retry_after=error.retry_after,
        transient=True,
    )


def _cancelled(error: LMError, attempt: int) -> LMError:
    return _gave_up(error, f"not retried after {attempt} attempts: the run is stopping")


def find_retrying(lm: object) -> RetryingLM | None:
    """The `RetryingLM` in `lm`'s chain of wrappers (``.inner``), or None."""
    for _ in range(32):
        if isinstance(lm, RetryingLM):
            return lm
        lm = getattr(lm, "inner", None)
        if lm is None:
            return None
    return None
