"""The real 0.5B model in-process (a few seconds each). Skipped without the `local` extra."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from gepakit.errors import LMError, MissingExtraError
from gepakit.lm.base import Completion, user_message
from gepakit.local import LocalLM, local_lm

pytestmark = pytest.mark.local_model


@pytest.fixture(scope="module")
def lm() -> LocalLM:
    model = local_lm()
    try:
        model.start()
    except MissingExtraError as exc:  # includes MissingModelWheelsError
        pytest.skip(f"local model not installed: {exc}")
    return model


def test_completion_has_text_and_usage(lm: LocalLM) -> None:
    c = lm.complete(user_message("What is 2 + 3? Reply with the number only."), max_tokens=8)
    assert c.text.strip()
    assert "5" in c.text
    assert c.prompt_tokens > 5
    assert 0 < c.completion_tokens <= 8
    assert c.finish_reason in {"stop", "length"}
    assert c.cost == 0.0


def test_max_tokens_and_stop(lm: LocalLM) -> None:
    c = lm.complete(user_message("Count from 1 to 50, comma separated."), max_tokens=4)
    assert c.finish_reason == "length"
    assert c.completion_tokens == 4
    stopped = lm.complete(
        user_message("Repeat exactly: alpha beta gamma delta"), max_tokens=16, stop="gamma"
    )
    assert "alpha" in stopped.text
    assert "gamma" not in stopped.text
    assert stopped.finish_reason == "stop"


def test_greedy_is_deterministic(lm: LocalLM) -> None:
    messages = user_message("Name a prime number greater than 10.")
    assert lm.complete(messages, max_tokens=12).text == lm.complete(messages, max_tokens=12).text


def test_four_threads_at_once(lm: LocalLM) -> None:
    prompts = [f"Write the number {n} in words." for n in (3, 7, 12, 40)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda p: lm.complete(user_message(p), max_tokens=10), prompts))
    assert len(results) == 4
    assert all(isinstance(r, Completion) and r.text.strip() for r in results)


def test_acomplete(lm: LocalLM) -> None:
    async def two() -> tuple[Completion, Completion]:
        return await asyncio.gather(
            lm.acomplete(user_message("Say yes."), max_tokens=4),
            lm.acomplete(user_message("Say no."), max_tokens=4),
        )

    assert all(c.text for c in asyncio.run(two()))


def test_prompt_longer_than_a_slot_is_an_lm_error(lm: LocalLM) -> None:
    with pytest.raises(LMError, match="context") as info:
        lm.complete(user_message("word " * (lm.ctx_per_slot + 100)), max_tokens=1)
    assert info.value.status == 400


def test_names_share_one_running_server(lm: LocalLM) -> None:
    assert local_lm("local/qwen2.5-coder-0.5b") is lm
    assert local_lm("qwen2.5-coder-0.5b") is lm
    assert lm.model == "local/qwen2.5-coder-0.5b"
    assert lm.is_running


def test_openai_sdk_against_base_url(lm: LocalLM) -> None:
    openai = pytest.importorskip("openai")
    with openai.OpenAI(base_url=lm.base_url, api_key="unused") as client:
        reply = client.chat.completions.create(
            model=lm.spec.name,
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=8,
            temperature=0,
        )
    assert reply.choices[0].message.content
    assert reply.usage is not None
    assert reply.usage.completion_tokens > 0


def test_process_exits_cleanly_after_use(lm: LocalLM) -> None:
    code = (
        "from gepakit.local import local_lm\n"
        "from gepakit.lm.base import user_message\n"
        "print(local_lm().complete(user_message('Hi'), max_tokens=2).completion_tokens)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() in {"1", "2"}
