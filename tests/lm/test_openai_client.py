"""OpenAICompatibleLM + RetryingLM against a local fake server (no network, no keys)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gepakit.errors import ConfigError, LMError
from gepakit.lm import OpenAICompatibleLM, RetryingLM, UsageLedger, user_message
from gepakit.lm.resolve import resolve_lm

from .conftest import OK_REPLY, FakeOpenAIServer

MESSAGES = user_message("Say hello.")


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def _client(server: FakeOpenAIServer, **kwargs: object) -> OpenAICompatibleLM:
    return OpenAICompatibleLM("fake-model", api_base=server.url, timeout=2.0, **kwargs)  # type: ignore[arg-type]


def _retrying(lm: OpenAICompatibleLM, sleep: RecordingSleep, **kwargs: object) -> RetryingLM:
    return RetryingLM(lm, base_delay=0.01, max_delay=0.05, sleep=sleep, **kwargs)  # type: ignore[arg-type]


def test_success_reads_text_and_usage(fake_server: FakeOpenAIServer) -> None:
    lm = _client(fake_server, temperature=0.0)
    completion = lm.complete(MESSAGES, max_tokens=20)
    assert completion.text == OK_REPLY
    assert (completion.prompt_tokens, completion.completion_tokens) == (11, 5)
    assert completion.finish_reason == "stop"
    assert completion.model == "fake-model"
    body = fake_server.requests[0]
    assert body["temperature"] == 0.0 and body["max_tokens"] == 20
    assert body["messages"] == [{"role": "user", "content": "Say hello."}]
    assert body["_authorization"] == "Bearer not-needed"
    lm.close()


def test_500_is_retried_and_counted(fake_server: FakeOpenAIServer) -> None:
    fake_server.script = ["500", "500"]
    sleep = RecordingSleep()
    ledger = UsageLedger()
    lm = _retrying(_client(fake_server), sleep, on_retry=lambda *_: ledger.record_retry("task"))
    assert lm.complete(MESSAGES).text == OK_REPLY
    assert fake_server.calls == 3
    assert lm.retries == 2
    assert ledger.usage("task").retries == 2
    assert len(sleep.delays) == 2 and all(0 <= d <= 0.05 for d in sleep.delays)


def test_429_retry_after_is_honoured_up_to_max_delay(fake_server: FakeOpenAIServer) -> None:
    fake_server.script = ["429"]
    sleep = RecordingSleep()
    lm = RetryingLM(_client(fake_server), base_delay=0.01, max_delay=5.0, sleep=sleep)
    assert lm.complete(MESSAGES).text == OK_REPLY
    assert sleep.delays == [1.0]
    fake_server.script = ["429"]
    capped = _retrying(_client(fake_server), sleep)  # max_delay 0.05 caps Retry-After: 1
    assert capped.complete(MESSAGES).text == OK_REPLY
    assert sleep.delays[-1] == 0.05


def test_429_error_fields(fake_server: FakeOpenAIServer) -> None:
    fake_server.script = ["429"]
    with pytest.raises(LMError) as info:
        _client(fake_server).complete(MESSAGES)
    assert info.value.status == 429
    assert info.value.retry_after == 1.0
    assert info.value.transient


def test_400_is_not_retried(fake_server: FakeOpenAIServer) -> None:
    fake_server.script = ["400", "ok"]
    sleep = RecordingSleep()
    lm = _retrying(_client(fake_server), sleep)
    with pytest.raises(LMError) as info:
        lm.complete(MESSAGES)
    assert info.value.status == 400
    assert not info.value.transient
    assert fake_server.calls == 1
    assert sleep.delays == []


def test_timeout_is_transient(fake_server: FakeOpenAIServer) -> None:
    fake_server.script = ["hang"]
    lm = OpenAICompatibleLM("fake-model", api_base=fake_server.url, timeout=0.3)
    with pytest.raises(LMError, match="timed out") as info:
        lm.complete(MESSAGES)
    assert info.value.transient


def test_timeout_then_success_with_retry(fake_server: FakeOpenAIServer) -> None:
    fake_server.script = ["hang"]
    sleep = RecordingSleep()
    lm = _retrying(OpenAICompatibleLM("fake-model", api_base=fake_server.url, timeout=0.3), sleep)
    assert lm.complete(MESSAGES).text == OK_REPLY
    assert lm.retries == 1


@pytest.mark.parametrize("mode", ["malformed", "nochoices", "nocontent"])
def test_malformed_responses_are_transient(fake_server: FakeOpenAIServer, mode: str) -> None:
    fake_server.script = [mode]
    with pytest.raises(LMError, match="malformed") as info:
        _client(fake_server).complete(MESSAGES)
    assert info.value.transient


def test_gives_up_after_max_attempts(fake_server: FakeOpenAIServer) -> None:
    fake_server.script = ["500"] * 10
    sleep = RecordingSleep()
    lm = _retrying(_client(fake_server), sleep, max_attempts=3)
    with pytest.raises(LMError, match="gave up after 3 attempts") as info:
        lm.complete(MESSAGES)
    assert info.value.transient and info.value.status == 500
    assert fake_server.calls == 3


def test_async_path_retries(fake_server: FakeOpenAIServer) -> None:
    fake_server.script = ["500"]
    delays: list[float] = []

    async def asleep(seconds: float) -> None:
        delays.append(seconds)

    client = _client(fake_server)
    lm = RetryingLM(client, base_delay=0.01, asleep=asleep)

    async def main() -> str:
        try:
            return (await lm.acomplete(MESSAGES)).text
        finally:
            await client.aclose()

    assert asyncio.run(main()) == OK_REPLY
    assert len(delays) == 1 and fake_server.calls == 2


def test_key_never_in_repr_or_errors(
    fake_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-test-0123456789abcdefSECRET"
    monkeypatch.setenv("GEPAKIT_TEST_KEY", secret)
    lm = _client(fake_server, api_key_env="GEPAKIT_TEST_KEY")
    fake_server.script = ["401"]
    with pytest.raises(LMError) as info:
        lm.complete(MESSAGES)
    assert fake_server.requests[0]["_authorization"] == f"Bearer {secret}"
    for text in (repr(lm), str(info.value), repr(info.value)):
        assert secret not in text
    assert not info.value.transient


def test_missing_key_without_api_base_is_config_error() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAICompatibleLM("gpt-4o-mini")


def test_unreachable_api_base_gives_transient_error_after_retries() -> None:
    sleep = RecordingSleep()
    ledger = UsageLedger()
    lm = resolve_lm(
        "some-model",
        role="task",
        api_base="http://127.0.0.1:9/v1",
        ledger=ledger,
        timeout=2.0,
        retries={"max_attempts": 3, "base_delay": 0.001, "sleep": sleep},
    )
    with pytest.raises(LMError) as info:
        lm.complete(MESSAGES)
    assert info.value.transient
    assert len(sleep.delays) == 2
    usage = ledger.usage("task")
    assert (usage.calls, usage.errors, usage.retries) == (1, 1, 2)


def test_full_chain_against_server(fake_server: FakeOpenAIServer, tmp_path: Path) -> None:
    ledger = UsageLedger()
    lm = resolve_lm(
        "fake-model",
        role="task",
        api_base=fake_server.url,
        ledger=ledger,
        cache_path=tmp_path / "cache.sqlite",
        retries={"base_delay": 0.001, "sleep": RecordingSleep()},
        temperature=0,
    )
    fake_server.script = ["500"]
    assert lm.complete(MESSAGES).text == OK_REPLY
    assert lm.complete(MESSAGES).cached
    usage = ledger.usage("task")
    assert (usage.calls, usage.cache_hits, usage.retries, usage.errors) == (2, 1, 1, 0)
    assert (usage.prompt_tokens, usage.completion_tokens) == (11, 5)
    assert usage.cost_usd == 0.0  # a server on localhost costs nothing
    assert fake_server.calls == 2


def test_server_specific_params_reach_compatible_servers(fake_server: FakeOpenAIServer) -> None:
    lm = _client(fake_server, repeat_penalty=1.1, temperature=0.0)
    lm.complete(MESSAGES, top_k=20, max_tokens=8)
    (body,) = fake_server.requests
    assert body["repeat_penalty"] == 1.1 and body["top_k"] == 20
    assert body["temperature"] == 0.0 and body["max_tokens"] == 8


def test_a_server_named_by_openai_base_url_gets_them_too(
    fake_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.url)
    lm = OpenAICompatibleLM("fake-model", repeat_penalty=1.1)  # no api_base: from the env
    assert lm.complete(MESSAGES).text == OK_REPLY
    (body,) = fake_server.requests
    assert body["repeat_penalty"] == 1.1


def test_server_specific_params_are_not_sent_to_openai(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    lm = OpenAICompatibleLM("gpt-4o-mini", repeat_penalty=1.1, temperature=0.0)
    with caplog.at_level("WARNING", logger="gepakit.lm"):
        request = lm._request(MESSAGES, {"max_tokens": 5})  # pyright: ignore[reportPrivateUsage]
        lm._request(MESSAGES, {})  # pyright: ignore[reportPrivateUsage]
    assert "repeat_penalty" not in request and "extra_body" not in request
    assert request["temperature"] == 0.0 and request["max_tokens"] == 5
    assert caplog.text.count("not sending repeat_penalty to OpenAI") == 1


def test_optimize_api_base_reaches_the_server(fake_server: FakeOpenAIServer) -> None:
    import gepakit

    data = [{"id": f"e{i}"} for i in range(3)]
    gepakit.optimize(
        {"p": "x"}, data, data, evaluator=lambda c, e: 0.0, reflection_lm="served-model",
        api_base=fake_server.url, max_metric_calls=9, progress=False, use_merge=False,
    )  # fmt: skip
    assert fake_server.requests and fake_server.requests[0]["model"] == "served-model"


def test_toml_api_base_reaches_the_server_for_both_lms(
    fake_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    from gepakit.config import load_config, run_from_config

    (tmp_path / "d.jsonl").write_text(
        "".join(f'{{"id": "e{i}", "text": "t{i}", "label": "no"}}\n' for i in range(3))
    )
    (tmp_path / "run.toml").write_text(
        'seed_candidate = { system_prompt = "Say it." }\ntrain = "d.jsonl"\nval = "d.jsonl"\n'
        f'reflection_lm = "reflector"\napi_base = "{fake_server.url}"\nmax_metric_calls = 9\n'
        'report = false\n[program]\ntask_lm = "tasker"\n[options]\nuse_merge = false\n'
    )
    result = run_from_config(load_config(tmp_path / "run.toml"), progress=False)
    models = {r["model"] for r in fake_server.requests}
    assert models == {"tasker", "reflector"}
    assert result.total_metric_calls == 9
