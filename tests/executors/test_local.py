"""In-process executors: inline, threads, asyncio."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from gepakit.executors.local import AsyncioExecutor, InlineExecutor, ThreadExecutor


def test_inline_runs_at_once_and_captures_errors() -> None:
    ex = InlineExecutor()
    assert ex.submit(lambda a, b: a + b, 2, 3).result() == 5

    def boom() -> None:
        raise RuntimeError("boom")

    fut = ex.submit(boom)
    assert isinstance(fut.exception(), RuntimeError)
    ex.shutdown()


def test_threads_run_concurrently_up_to_workers() -> None:
    ex = ThreadExecutor(3)
    lock, active, peak = threading.Lock(), [0], [0]

    def work() -> int:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        return 1

    futures = [ex.submit(work) for _ in range(9)]
    assert sum(f.result() for f in futures) == 9
    ex.shutdown()
    assert 1 < peak[0] <= 3
    with pytest.raises(ValueError, match="at least 1"):
        ThreadExecutor(0)


def test_asyncio_limits_coroutines_and_runs_plain_functions() -> None:
    ex = AsyncioExecutor(2)
    active, peak = [0], [0]

    async def work(x: int) -> int:
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        await asyncio.sleep(0.01)
        active[0] -= 1
        return x * 2

    futures = [ex.submit(work, i) for i in range(6)]
    assert [f.result(timeout=5) for f in futures] == [0, 2, 4, 6, 8, 10]
    assert peak[0] == 2
    assert ex.submit(lambda: threading.current_thread().name).result(timeout=5)
    ex.shutdown()


def test_asyncio_propagates_exceptions() -> None:
    ex = AsyncioExecutor(1)

    async def boom() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        _ = ex.submit(boom).result(timeout=5)
    ex.shutdown()


def test_thread_executor_holds_no_thread_until_used() -> None:
    before = threading.active_count()
    executor = ThreadExecutor(4)
    assert threading.active_count() == before
    assert executor.submit(lambda: 7).result() == 7
    executor.shutdown()
    assert threading.active_count() == before


def test_a_run_that_fails_while_wired_leaves_no_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import gepakit
    import gepakit.api

    class Boom(Exception):
        pass

    def no_driver(*args: object, **kwargs: object) -> None:
        raise Boom

    monkeypatch.setattr(gepakit.api, "Driver", no_driver)
    data = [{"id": str(i), "x": i} for i in range(3)]
    before = threading.active_count()
    for _ in range(5):
        with pytest.raises(Boom):
            gepakit.optimize(
                {"p": "x"}, data, data, evaluator=lambda c, e: 1.0,
                reflection_lm=lambda p: "```\ny\n```", max_metric_calls=20,
                workers=4, max_concurrent_proposals=2, progress=False,
            )  # fmt: skip
    assert threading.active_count() == before
