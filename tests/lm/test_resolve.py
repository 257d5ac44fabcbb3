from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from gepakit.errors import ConfigError, MissingExtraError
from gepakit.lm import (
    CachedLM,
    FunctionLM,
    LedgerLM,
    OpenAICompatibleLM,
    RateLimitedLM,
    RetryingLM,
    UsageLedger,
    resolve_lm,
    user_message,
)

from .fakes import CountingLM


def _chain(lm: object) -> list[type]:
    kinds: list[type] = []
    while lm is not None:
        kinds.append(type(lm))
        lm = getattr(lm, "inner", None)
    return kinds


def test_lm_object_wrap_order(tmp_path: Path) -> None:
    inner = CountingLM()
    lm = resolve_lm(
        inner,
        role="task",
        ledger=UsageLedger(),
        cache_path=tmp_path / "c.sqlite",
        requests_per_minute=100,
    )
    assert _chain(lm) == [LedgerLM, CachedLM, RetryingLM, RateLimitedLM, CountingLM]
    assert lm.model == inner.model
    assert lm.complete(user_message("x")).text == "x #1"
    assert isinstance(lm, LedgerLM)
    assert isinstance(lm.inner, CachedLM)
    lm.inner.close()


def test_minimal_wrapping() -> None:
    inner = CountingLM()
    assert resolve_lm(inner, role="task", retries=False) is inner
    assert _chain(resolve_lm(inner, role="task")) == [RetryingLM, CountingLM]


def test_params_become_defaults_for_objects() -> None:
    inner = CountingLM()
    lm = resolve_lm(inner, role="task", retries=False, temperature=0.5)
    lm.complete(user_message("x"), max_tokens=3)
    lm.complete(user_message("x"), temperature=0.0)
    assert inner.params == [{"temperature": 0.5, "max_tokens": 3}, {"temperature": 0.0}]


def test_callable_becomes_function_lm() -> None:
    lm = resolve_lm(lambda p: p[::-1], role="task", retries=False)
    assert isinstance(lm, FunctionLM)
    assert lm.complete(user_message("abc")).text == "cba"


def test_openai_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-123456")
    lm = resolve_lm("openai/gpt-4o-mini", role="reflection", retries=False, temperature=1.0)
    assert isinstance(lm, OpenAICompatibleLM)
    assert lm.model == "gpt-4o-mini" and lm.default_params == {"temperature": 1.0}
    assert "sk-test" not in repr(lm)
    lm.close()


def test_any_string_with_api_base(monkeypatch: pytest.MonkeyPatch) -> None:
    lm = resolve_lm(
        "Qwen/Qwen2.5-7B", role="task", retries=False, api_base="http://localhost:8000/v1"
    )
    assert isinstance(lm, OpenAICompatibleLM)
    assert lm.model == "Qwen/Qwen2.5-7B" and lm.is_local
    lm.close()


def test_local_strings_use_local_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    names: list[str] = []

    def local_lm(name: str = "qwen2.5-coder-0.5b") -> CountingLM:
        names.append(name)
        return CountingLM(model=name)

    fake = types.ModuleType("gepakit.local.runtime")
    fake.local_lm = local_lm  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gepakit.local.runtime", fake)
    ledger = UsageLedger()
    lm = resolve_lm("local", role="task", ledger=ledger)
    resolve_lm("local/tiny", role="task", retries=False)
    assert names == ["qwen2.5-coder-0.5b", "tiny"]
    lm.complete(user_message("x"))
    assert ledger.usage("task").cost_usd == 0.0


@pytest.mark.parametrize("spec", ["gpt-4o", "", "   ", "openai/", 42])
def test_unknown_specs_are_config_errors(spec: object) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_lm(spec, role="task")
    if spec == "gpt-4o":
        assert "openai/gpt-4o" in str(info.value)
        assert "Accepted forms" in str(info.value)


def test_missing_litellm_names_the_extra() -> None:
    try:
        import litellm  # noqa: F401  # pyright: ignore[reportMissingImports]
    except ImportError:
        pass
    else:
        pytest.skip("litellm is installed")
    with pytest.raises(MissingExtraError) as info:
        resolve_lm("anthropic/claude-sonnet-4-20250514", role="reflection")
    assert info.value.extra == "litellm"
    assert "gepakit[litellm]" in str(info.value)


def test_missing_openai_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(MissingExtraError, match=r"gepakit\[openai\]"):
        resolve_lm("openai/gpt-4o", role="task")


def test_lm_layer_import_does_not_import_sdks() -> None:
    import subprocess

    code = "import sys, gepakit.lm; print('openai' in sys.modules, 'litellm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
