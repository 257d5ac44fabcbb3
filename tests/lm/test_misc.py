"""FunctionLM, as_prompt_fn and redact."""

from __future__ import annotations

import asyncio

import pytest

from gepakit.errors import LMError
from gepakit.lm import FunctionLM, as_prompt_fn, redact, user_message


def test_function_lm_joins_text_contents() -> None:
    seen: list[str] = []

    def fn(prompt: str) -> str:
        seen.append(prompt)
        return prompt.upper()

    lm = FunctionLM(fn)
    messages = [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {}}],
        },
    ]
    completion = lm.complete(messages, temperature=0.3)
    assert seen == ["be brief\n\nhi"]
    assert completion.text == "BE BRIEF\n\nHI" and completion.model == "function"
    assert asyncio.run(lm.acomplete(user_message("x"))).text == "X"


def test_function_lm_errors_become_lm_errors() -> None:
    def broken(prompt: str) -> str:
        raise RuntimeError("nope")

    with pytest.raises(LMError, match="RuntimeError: nope") as info:
        FunctionLM(broken).complete(user_message("x"))
    assert not info.value.transient
    with pytest.raises(LMError, match="expected str"):
        FunctionLM(lambda p: 3).complete(user_message("x"))  # type: ignore[arg-type, return-value]


def test_as_prompt_fn() -> None:
    fn = as_prompt_fn(FunctionLM(lambda p: f"<{p}>"), temperature=0)
    assert fn("q") == "<q>"


@pytest.mark.parametrize(
    "text",
    [
        "Incorrect API key provided: sk-proj-abcdef1234567890XYZ.",
        "Authorization: Bearer abcdefghijklmnop123",
        "api_key=abcd1234efgh",
        '{"api_key": "abcd1234efgh"}',
        "http://user:hunter22@example.com/v1",
        "token hf_abcdefghijklmnopqrstuvwx",
    ],
)
def test_redact_masks_keys(text: str) -> None:
    secret_parts = [
        "abcdef1234567890XYZ",
        "abcdefghijklmnop123",
        "abcd1234efgh",
        "hunter22",
        "abcdefghijklmnopqrstuvwx",
    ]
    cleaned = redact(text)
    assert "***" in cleaned
    assert not any(part in cleaned for part in secret_parts)


def test_redact_keeps_plain_text_and_masks_given_secrets() -> None:
    assert redact("HTTP 500: the server had an error") == "HTTP 500: the server had an error"
    assert redact("key is plainsecret99 here", ["plainsecret99"]) == "key is *** here"
