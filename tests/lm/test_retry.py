from __future__ import annotations

import random
import time

import pytest

from gepakit.errors import ConfigError, LMError
from gepakit.lm import RetryingLM, user_message
from gepakit.lm.retry import retry_deadline, set_retry_deadline

from .fakes import CountingLM


def _transient(retry_after: float | None = None) -> LMError:
    return LMError("busy", status=503, retry_after=retry_after, transient=True)


def test_backoff_is_exponential_and_capped_without_jitter() -> None:
    delays: list[float] = []
    inner = CountingLM(errors=[_transient() for _ in range(5)])
    lm = RetryingLM(
        inner, max_attempts=6, base_delay=1.0, max_delay=5.0, jitter=False, sleep=delays.append
    )
    lm.complete(user_message("x"))
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert lm.retries == 5


def test_full_jitter_stays_below_backoff() -> None:
    delays: list[float] = []
    inner = CountingLM(errors=[_transient() for _ in range(4)])
    lm = RetryingLM(inner, base_delay=1.0, sleep=delays.append, rng=random.Random(0))
    lm.complete(user_message("x"))
    assert all(0 <= d <= 2**i for i, d in enumerate(delays))


def test_retry_after_is_a_floor() -> None:
    delays: list[float] = []
    inner = CountingLM(errors=[_transient(retry_after=7.0)])
    RetryingLM(inner, base_delay=0.1, sleep=delays.append).complete(user_message("x"))
    assert delays == [7.0]


def test_non_transient_and_other_exceptions_are_not_retried() -> None:
    inner = CountingLM(errors=[LMError("bad request", status=400)])
    with pytest.raises(LMError, match="bad request"):
        RetryingLM(inner, sleep=lambda _: None).complete(user_message("x"))
    assert inner.calls == 1


def test_hook_sees_each_retry() -> None:
    seen: list[tuple[int, float]] = []
    inner = CountingLM(errors=[_transient(), _transient()])
    lm = RetryingLM(
        inner,
        jitter=False,
        base_delay=0.5,
        sleep=lambda _: None,
        on_retry=lambda e, n, d: seen.append((n, d)),
    )
    lm.complete(user_message("x"))
    assert seen == [(1, 0.5), (2, 1.0)]


def test_a_deadline_stops_waits_that_would_end_after_it() -> None:
    delays: list[float] = []
    inner = CountingLM(errors=[_transient() for _ in range(5)])
    lm = RetryingLM(inner, base_delay=1.0, jitter=False, sleep=delays.append)
    set_retry_deadline(time.monotonic() + 1.5)  # room for the 1 s wait, not the next 2 s
    try:
        with pytest.raises(LMError, match="timeout is near"):
            lm.complete(user_message("x"))
    finally:
        set_retry_deadline(None)
    assert delays == [1.0] and inner.calls == 2
    assert retry_deadline() is None


def test_invalid_options() -> None:
    with pytest.raises(ConfigError):
        RetryingLM(CountingLM(), max_attempts=0)
