from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gepakit.errors import StoreError
from gepakit.lm import CachedLM, user_message

from .fakes import CountingLM


def test_second_identical_call_hits(tmp_path: Path) -> None:
    inner = CountingLM()
    with CachedLM(inner, tmp_path / "cache.sqlite") as lm:
        first = lm.complete(user_message("hi"), temperature=0)
        second = lm.complete(user_message("hi"), temperature=0)
        other = lm.complete(user_message("hi"), temperature=0, max_tokens=5)
    assert inner.calls == 2
    assert not first.cached and second.cached
    assert second.text == first.text and second.prompt_tokens == first.prompt_tokens
    assert not other.cached


def test_timeout_param_does_not_change_key(tmp_path: Path) -> None:
    inner = CountingLM()
    with CachedLM(inner, tmp_path / "cache.sqlite") as lm:
        lm.complete(user_message("hi"), timeout=1)
        assert lm.complete(user_message("hi"), timeout=5).cached
    assert inner.calls == 1


def test_sampling_gets_sample_indexes_and_replays(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    inner = CountingLM()
    with CachedLM(inner, path) as lm:
        first_run = [lm.complete(user_message("q"), temperature=0.8).text for _ in range(3)]
    assert inner.calls == 3 and len(set(first_run)) == 3

    with CachedLM(inner, path) as lm:
        second_run = [lm.complete(user_message("q"), temperature=0.8) for _ in range(4)]
    assert [c.text for c in second_run[:3]] == first_run
    assert all(c.cached for c in second_run[:3])
    assert not second_run[3].cached
    assert inner.calls == 4


def test_temperature_from_inner_default_params(tmp_path: Path) -> None:
    inner = CountingLM()
    inner.default_params = {"temperature": 1.0}  # type: ignore[attr-defined]
    with CachedLM(inner, tmp_path / "c.sqlite") as lm:
        texts = {lm.complete(user_message("q")).text for _ in range(2)}
    assert len(texts) == 2


def test_persistence_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cache.sqlite"
    with CachedLM(CountingLM(), path) as lm:
        original = lm.complete(user_message("persist me"))
    other_inner = CountingLM()
    with CachedLM(other_inner, path) as lm:
        again = lm.complete(user_message("persist me"))
    assert again.cached and again.text == original.text
    assert other_inner.calls == 0
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_model_is_part_of_the_key(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with CachedLM(CountingLM("model-a"), path) as lm:
        lm.complete(user_message("x"))
    with CachedLM(CountingLM("model-b"), path) as lm:
        assert not lm.complete(user_message("x")).cached


def test_thread_safety(tmp_path: Path) -> None:
    inner = CountingLM()
    prompts = [f"p{i % 5}" for i in range(40)]
    with CachedLM(inner, tmp_path / "cache.sqlite") as lm, ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda p: lm.complete(user_message(p), temperature=0), prompts))
        again = [lm.complete(user_message(f"p{i}"), temperature=0) for i in range(5)]
    assert len(results) == 40
    assert all(c.cached for c in again)
    # Concurrent misses may both call the inner LM, but never more than once per thread.
    assert 5 <= inner.calls <= 20


def test_thread_safety_sampling_indexes_are_distinct(tmp_path: Path) -> None:
    inner = CountingLM()
    with CachedLM(inner, tmp_path / "cache.sqlite") as lm, ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: lm.complete(user_message("s"), temperature=0.7), range(12)))
    assert inner.calls == 12


def test_async_path(tmp_path: Path) -> None:
    inner = CountingLM()

    async def main() -> tuple[bool, bool]:
        with CachedLM(inner, tmp_path / "cache.sqlite") as lm:
            a = await lm.acomplete(user_message("async"))
            b = await lm.acomplete(user_message("async"))
        return a.cached, b.cached

    assert asyncio.run(main()) == (False, True)


def test_schema_version_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    CachedLM(CountingLM(), path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(StoreError, match="schema version 99"):
        CachedLM(CountingLM(), path)
