"""Executors that run rollouts in this process: inline, threads, an asyncio loop."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class InlineExecutor:
    """Runs each call immediately in the calling thread (exactly reproducible)."""

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        fut: Future[T] = Future()
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:
            fut.set_exception(exc)
        return fut

    def shutdown(self) -> None:
        return None


class ThreadExecutor:
    """A pool of `workers` threads shared by every in-flight rollout."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gepakit")

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        return self._pool.submit(fn, *args)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class AsyncioExecutor:
    """Runs coroutine functions on one event loop in a background thread.

    At most `workers` coroutines run at once. Plain functions are run in the loop's
    default thread pool. No nested event loops: the caller's thread never runs one.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="gepakit-asyncio", daemon=True
        )
        self._thread.start()
        self._sem = asyncio.Semaphore(workers)

    async def _guarded(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        async with self._sem:
            if inspect.iscoroutinefunction(fn):
                return await fn(*args)
            return await self._loop.run_in_executor(None, fn, *args)

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(self._guarded(fn, args), self._loop)

    def shutdown(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self._loop.close()
