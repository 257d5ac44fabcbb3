"""LocalLM without a model: request building, reply mapping, errors, singletons."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from gepakit.errors import ConfigError, LMError, MissingExtraError
from gepakit.lm.base import LM
from gepakit.local.models import QWEN_05B, QWEN_15B
from gepakit.local.runtime import LocalLM, local_lm

REPLY = {
    "choices": [{"finish_reason": "length", "message": {"role": "assistant", "content": "hi"}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3},
}


class FakeServer:
    listening_address = "http://127.0.0.1:1234"

    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply
        self.requests: list[dict[str, Any]] = []

    def handle_chat_completions(self, request: dict[str, Any], /) -> dict[str, Any]:
        self.requests.append(request)
        return self.reply


def with_fake(reply: dict[str, Any]) -> tuple[LocalLM, FakeServer]:
    lm = LocalLM(QWEN_05B)
    server = FakeServer(reply)
    lm._server = server
    return lm, server


def test_satisfies_lm_protocol() -> None:
    assert isinstance(LocalLM(QWEN_05B), LM)


def test_defaults_and_params_reach_the_request() -> None:
    lm, server = with_fake(REPLY)
    completion = lm.complete([{"role": "user", "content": "x"}], stop="\n", seed=3)
    assert server.requests == [
        {
            "messages": [{"role": "user", "content": "x"}],
            "temperature": 0.0,
            "max_tokens": 512,
            "stop": ["\n"],
            "seed": 3,
        }
    ]
    assert completion.text == "hi"
    assert completion.finish_reason == "length"
    assert (completion.prompt_tokens, completion.completion_tokens) == (12, 3)
    assert completion.cost == 0.0
    assert completion.model == "local/qwen2.5-coder-0.5b"


def test_unknown_param_is_a_config_error() -> None:
    lm, server = with_fake(REPLY)
    with pytest.raises(ConfigError, match="max_new_tokens"):
        lm.complete([{"role": "user", "content": "x"}], max_new_tokens=3)
    assert server.requests == []


def test_server_error_becomes_lm_error_with_hint() -> None:
    error = {
        "error": {
            "code": 400,
            "message": "request (5000 tokens) exceeds the available context size (4096 tokens)",
            "type": "exceed_context_size_error",
        }
    }
    lm, _ = with_fake(error)
    with pytest.raises(LMError, match="ctx_per_slot") as info:
        lm.complete([{"role": "user", "content": "x"}])
    assert info.value.status == 400
    assert info.value.provider == "local"
    assert not info.value.transient


def test_base_url_is_openai_style() -> None:
    lm, _ = with_fake(REPLY)
    assert lm.base_url == "http://127.0.0.1:1234/v1"


def test_missing_xllamacpp_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)
    lm = LocalLM(QWEN_05B)
    monkeypatch.setattr(LocalLM, "model_file", property(lambda self: None))
    with pytest.raises(MissingExtraError, match=r"gepakit\[local\]") as info:
        lm.start()
    assert info.value.package == "xllamacpp"
    assert not lm.is_running


def test_close_drops_the_server() -> None:
    lm, _ = with_fake(REPLY)
    lm.close()
    assert not lm.is_running


def test_local_lm_is_one_object_per_model() -> None:
    a = local_lm()
    assert a is local_lm("local") is local_lm("local/qwen2.5-coder-0.5b")
    b = local_lm("local/qwen2.5-coder-1.5b")
    assert b is not a
    assert b.spec is QWEN_15B
    assert (a.n_parallel, b.n_parallel) == (4, 2)


def test_invalid_sizes_are_rejected() -> None:
    with pytest.raises(ConfigError):
        LocalLM(QWEN_05B, threads=0)


def test_concurrent_start_loads_once(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[int] = []

    def slow_load(self: LocalLM) -> FakeServer:
        loads.append(1)
        time.sleep(0.05)
        return FakeServer(REPLY)

    monkeypatch.setattr(LocalLM, "_load", slow_load)
    lm = LocalLM(QWEN_05B)
    with ThreadPoolExecutor(8) as pool:
        replies = list(
            pool.map(lambda _: lm.complete([{"role": "user", "content": "x"}]), range(8))
        )
    assert loads == [1]
    assert all(r.text == "hi" for r in replies)


def test_importing_the_package_does_not_import_xllamacpp() -> None:
    code = "import sys, gepakit.local; print('xllamacpp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
