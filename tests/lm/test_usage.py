from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from gepakit.errors import ConfigError, LMError
from gepakit.lm import Completion, LedgerLM, UsageLedger, register_price, user_message
from gepakit.lm.usage import PRICES, completion_cost, lookup_price

from .fakes import CountingLM


def test_per_role_counts_and_cost() -> None:
    ledger = UsageLedger()
    task = LedgerLM(CountingLM("gpt-4o-mini", tokens=1000), ledger, "task")
    reflection = LedgerLM(CountingLM("gpt-4o", tokens=1000), ledger, "reflection")
    for _ in range(3):
        task.complete(user_message("a"))
    reflection.complete(user_message("b"))

    t = ledger.usage("task")
    assert (t.calls, t.prompt_tokens, t.completion_tokens, t.errors) == (3, 3000, 3000, 0)
    assert t.cost_usd == pytest.approx(3 * (1000 * 0.15 + 1000 * 0.60) / 1e6)
    r = ledger.usage("reflection")
    assert r.calls == 1 and r.cost_usd == pytest.approx((1000 * 2.5 + 1000 * 10.0) / 1e6)
    assert ledger.roles() == ("task", "reflection")
    total = ledger.total()
    assert total.calls == 4
    assert total.cost_usd == pytest.approx(t.known_cost_usd + r.known_cost_usd)


def test_unknown_price_gives_none_and_local_costs_zero() -> None:
    ledger = UsageLedger()
    LedgerLM(CountingLM("mystery-model"), ledger, "task").complete(user_message("x"))
    usage = ledger.usage("task")
    assert usage.cost_usd is None and usage.unpriced_calls == 1
    LedgerLM(CountingLM("mystery-model"), ledger, "local", local=True).complete(user_message("x"))
    assert ledger.usage("local").cost_usd == 0.0
    assert ledger.total().cost_usd is None


def test_is_local_is_inferred_from_wrapped_lm() -> None:
    inner = CountingLM("my-gguf")
    inner.is_local = True  # type: ignore[attr-defined]
    ledger = UsageLedger()
    LedgerLM(inner, ledger, "task").complete(user_message("x"))
    assert ledger.usage("task").cost_usd == 0.0


def test_errors_and_cache_hits() -> None:
    ledger = UsageLedger()
    failing = LedgerLM(CountingLM(errors=[LMError("boom")]), ledger, "task")
    with pytest.raises(LMError):
        failing.complete(user_message("x"))
    ledger.record("task", Completion(text="hit", prompt_tokens=50, model="gpt-4o", cached=True))
    usage = ledger.usage("task")
    assert (usage.calls, usage.errors, usage.cache_hits, usage.prompt_tokens) == (2, 1, 1, 0)
    assert usage.cost_usd == 0.0


def test_price_lookup_and_register() -> None:
    assert lookup_price("gpt-4o-2024-08-06") == PRICES["gpt-4o"]
    assert lookup_price("openai/gpt-4o-mini") == PRICES["gpt-4o-mini"]
    assert lookup_price("gpt-4o-mini-2024-07-18") == PRICES["gpt-4o-mini"]
    assert lookup_price("unknown") is None
    saved = dict(PRICES)
    try:
        register_price("my-model", 1.0, 2.0)
        cost = completion_cost(
            Completion(
                text="", prompt_tokens=1_000_000, completion_tokens=500_000, model="my-model"
            )
        )
        assert cost == pytest.approx(2.0)
        with pytest.raises(ConfigError):
            register_price("bad", -1, 0)
    finally:
        PRICES.clear()
        PRICES.update(saved)


def test_provider_cost_wins() -> None:
    assert completion_cost(Completion(text="", model="unknown", cost=0.5)) == 0.5


def test_to_dict_round_trip() -> None:
    ledger = UsageLedger()
    LedgerLM(CountingLM("gpt-4.1"), ledger, "task").complete(user_message("x"))
    LedgerLM(CountingLM("mystery"), ledger, "reflection").complete(user_message("x"))
    ledger.record_retry("reflection")
    data = json.loads(json.dumps(ledger.to_dict()))
    assert data["roles"]["reflection"]["cost_usd"] is None
    restored = UsageLedger.from_dict(data)
    assert restored.to_dict() == ledger.to_dict()
    assert restored.usage("reflection").retries == 1
    with pytest.raises(ConfigError):
        UsageLedger.from_dict({"schema_version": 99})


def test_thread_safe_counting() -> None:
    ledger = UsageLedger()
    lm = LedgerLM(CountingLM("gpt-4o-mini", tokens=1), ledger, "task")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: lm.complete(user_message("x")), range(200)))
    assert ledger.usage("task").calls == 200
    assert ledger.usage("task").prompt_tokens == 200
