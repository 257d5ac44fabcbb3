from __future__ import annotations

import pytest

from gepakit.errors import ConfigError
from gepakit.lm import Completion, RateLimitedLM, user_message

from .fakes import CountingLM


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_requests_beyond_the_limit_wait() -> None:
    clock = FakeClock()
    lm = RateLimitedLM(CountingLM(), requests_per_minute=2, clock=clock, sleep=clock.sleep)
    lm.complete(user_message("a"))
    lm.complete(user_message("b"))
    assert clock.sleeps == []
    lm.complete(user_message("c"))
    assert clock.sleeps == [pytest.approx(30.0)]
    lm.complete(user_message("d"))
    assert clock.sleeps[-1] == pytest.approx(30.0)


def test_capacity_refills_over_time() -> None:
    clock = FakeClock()
    lm = RateLimitedLM(CountingLM(), requests_per_minute=60, clock=clock, sleep=clock.sleep)
    for _ in range(60):
        lm.complete(user_message("a"))
    assert clock.sleeps == []
    clock.now += 5.0
    for _ in range(5):
        lm.complete(user_message("a"))
    assert clock.sleeps == []
    lm.complete(user_message("a"))
    assert clock.sleeps == [pytest.approx(1.0)]


def test_token_limit_waits_and_uses_real_usage() -> None:
    clock = FakeClock()
    inner = CountingLM(tokens=300)  # 600 tokens per reply
    lm = RateLimitedLM(inner, tokens_per_minute=1000, clock=clock, sleep=clock.sleep)
    lm.complete(user_message("x"))
    lm.complete(user_message("x"))  # the estimate fits; real usage leaves the bucket at -200
    assert clock.sleeps == []
    lm.complete(user_message("x"))
    assert len(clock.sleeps) == 1
    assert clock.sleeps[0] == pytest.approx((200 + 5) * 60 / 1000, abs=0.5)


def test_reply_without_usage_keeps_the_estimate() -> None:
    clock = FakeClock()
    inner = CountingLM(tokens=0)
    lm = RateLimitedLM(inner, tokens_per_minute=100, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        lm.complete(user_message("y" * 80), max_tokens=10)  # ~35 tokens estimated each
    assert clock.sleeps


def test_invalid_limits() -> None:
    with pytest.raises(ConfigError):
        RateLimitedLM(CountingLM(), requests_per_minute=0)


def test_completion_passthrough() -> None:
    lm = RateLimitedLM(CountingLM(), requests_per_minute=1000)
    assert isinstance(lm.complete(user_message("z")), Completion)
