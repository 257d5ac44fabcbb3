"""`LiteLLMLM`: what reaches the provider (a local fake server or a recording fake)."""

from __future__ import annotations

from typing import Any

import pytest

from gepakit.lm import user_message
from gepakit.lm.litellm_client import LiteLLMLM

from .conftest import OK_REPLY, FakeOpenAIServer

pytest.importorskip("litellm")

MESSAGES = user_message("Say hello.")
LOCAL_ONLY = {"repeat_penalty": 1.1, "min_p": 0.05}


class RecordingLiteLLM:
    """A fake of the `litellm` module: records each completion call's keyword arguments
    and answers nothing (the test stops there)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def completion(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        raise RuntimeError("recorded")


def _recorded(lm: LiteLLMLM, **params: Any) -> dict[str, Any]:
    fake = RecordingLiteLLM(lm._litellm)  # pyright: ignore[reportPrivateUsage]
    lm._litellm = fake  # pyright: ignore[reportPrivateUsage]
    with pytest.raises(Exception, match="recorded"):
        lm.complete(MESSAGES, **params)
    (call,) = fake.calls
    return call


# LiteLLM's Azure code imports a pydantic model that warns about its own typing.
@pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning")
def test_azure_openai_gets_no_server_specific_params(
    fake_server: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    lm = LiteLLMLM(
        "azure/my-deployment",
        api_base=fake_server.url.removesuffix("/v1"),
        api_key="test-not-real",
        api_version="2024-02-01",
        temperature=0.0,
        **LOCAL_ONLY,
    )
    with caplog.at_level("WARNING", logger="gepakit.lm"):
        assert lm.complete(MESSAGES, max_tokens=8).text == OK_REPLY
        lm.complete(MESSAGES, top_k=20)
    first, second = fake_server.requests
    assert "repeat_penalty" not in first and "min_p" not in first
    assert first["temperature"] == 0.0 and first["max_tokens"] == 8
    assert "top_k" not in second
    assert caplog.text.count("not sending min_p, repeat_penalty to Azure OpenAI") == 1
    assert caplog.text.count("not sending top_k to Azure OpenAI") == 1


def test_openai_itself_gets_no_server_specific_params_but_litellms_own_pass() -> None:
    lm = LiteLLMLM("openai/gpt-4o-mini", temperature=0.0, **LOCAL_ONLY)
    call = _recorded(lm, max_tokens=5, top_k=3, drop_params=True)
    assert not {"repeat_penalty", "min_p", "top_k"} & set(call)
    assert call["temperature"] == 0.0 and call["max_tokens"] == 5
    assert call["drop_params"] is True and call["num_retries"] == 0


def test_compatible_servers_and_other_providers_get_every_param(
    fake_server: FakeOpenAIServer,
) -> None:
    lm = LiteLLMLM("openai/fake-model", api_base=fake_server.url, api_key="x", **LOCAL_ONLY)
    assert lm.complete(MESSAGES, top_k=20).text == OK_REPLY
    (body,) = fake_server.requests
    assert body["repeat_penalty"] == 1.1 and body["min_p"] == 0.05 and body["top_k"] == 20
    # LiteLLM passes provider-specific params on (Anthropic takes top_k): left as they are.
    call = _recorded(LiteLLMLM("anthropic/claude-x", **LOCAL_ONLY), top_k=3)
    assert call["top_k"] == 3 and call["repeat_penalty"] == 1.1


def test_a_server_named_by_openai_base_url_gets_every_param(
    fake_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.url)
    lm = LiteLLMLM("openai/fake-model", api_key="x", **LOCAL_ONLY)
    assert lm.complete(MESSAGES).text == OK_REPLY
    (body,) = fake_server.requests
    assert body["repeat_penalty"] == 1.1 and body["min_p"] == 0.05
