"""End to end with the real 0.5B model: response cache, usage, a short saved run.

Plumbing only: small models are not bit-deterministic with parallel slots, so nothing
here asserts on exact texts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import gepakit
from gepakit.errors import MissingExtraError
from gepakit.lm import UsageLedger, resolve_lm
from gepakit.lm.base import user_message
from gepakit.local import local_lm
from gepakit.programs import PromptProgram

pytestmark = [pytest.mark.local_model, pytest.mark.slow]

LABELS = ["get_weather", "play_music"]
DATA = [
    {"id": "a", "text": "Will it rain in Paris tomorrow?", "label": "get_weather"},
    {"id": "b", "text": "Play some jazz by Miles Davis.", "label": "play_music"},
    {"id": "c", "text": "How hot will it be on Sunday in Rome?", "label": "get_weather"},
    {"id": "d", "text": "Put on the new Taylor Swift album.", "label": "play_music"},
]


@pytest.fixture(scope="module", autouse=True)
def _model() -> None:
    try:
        local_lm().start()
    except MissingExtraError as exc:
        pytest.skip(f"local model not installed: {exc}")


def test_a_second_identical_call_is_a_cache_hit(tmp_path: Path) -> None:
    ledger = UsageLedger()
    lm = resolve_lm("local", role="task", ledger=ledger, cache_path=tmp_path / "lm.db")
    messages = user_message("Name one primary colour. One word.")
    first = lm.complete(messages, max_tokens=8, temperature=0.0)
    second = lm.complete(messages, max_tokens=8, temperature=0.0)
    assert first.text.strip() and not first.cached
    assert second.cached and second.text == first.text
    usage = ledger.usage("task")
    assert usage.calls == 2 and usage.cache_hits == 1
    assert usage.prompt_tokens == first.prompt_tokens > 0


def test_a_short_optimization_runs_end_to_end_and_is_saved(tmp_path: Path) -> None:
    program = PromptProgram("local", labels=LABELS, max_tokens=12)
    run_dir = tmp_path / "run"

    def reflect(prompt: str) -> str:  # a fixed reflection: the test is about the task LM
        return "```\nAnswer with exactly one label: get_weather or play_music.\n```"

    result = gepakit.optimize(
        {"system_prompt": "Classify."}, DATA, DATA, evaluator=program, reflection_lm=reflect,
        max_metric_calls=20, workers=2, run_dir=run_dir, use_merge=False,
    )  # fmt: skip
    assert 0 < result.total_metric_calls <= 20
    task = result.usage["roles"]["task"]
    assert task["calls"] == result.total_metric_calls
    assert task["prompt_tokens"] > 0 and task["completion_tokens"] > 0
    assert all(p.decision in {"accepted", "rejected", "skipped"} for p in result.proposals)
    loaded = gepakit.load_run(run_dir)
    assert loaded.candidates == result.candidates
    assert loaded.val_subscores == result.val_subscores
    assert loaded.total_metric_calls == result.total_metric_calls
