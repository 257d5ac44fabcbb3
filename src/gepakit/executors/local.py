"""Executors that run rollouts in this process: inline, threads, an asyncio loop."""

from __future__ import annotations

import asyncio
import inspect
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_inline = threading.local()


def in_inline_call() -> bool:
    """Whether this thread is inside a call an `InlineExecutor` is running.

    The Ctrl-C handler of `gepakit.optimize` uses it: a blocking call (an LM request)
    on the main thread is interrupted at once instead of being waited for.
    """
    return getattr(_inline, "depth", 0) > 0


class InlineExecutor:
    """Runs each call immediately in the calling thread (exactly reproducible)."""

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        fut: Future[T] = Future()
        _inline.depth = getattr(_inline, "depth", 0) + 1
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:
            fut.set_exception(exc)
        finally:
            _inline.depth -= 1
        return fut

    def shutdown(self, *, wait: bool = True) -> None:
        return None


class ThreadExecutor:
    """A pool of `workers` daemon threads shared by every in-flight rollout.

    The threads are daemons, so a stopped run never keeps the process alive waiting
    for a hung call: `shutdown(wait=False)` cancels what has not started and returns.
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self._queue: queue.SimpleQueue[
            tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None
        ]
        self._queue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._start_lock = threading.Lock()
        self._closed = False

    def _start(self) -> None:
        """Start the worker threads on the first submit: an executor that is never used
        (a run that fails while it is being wired) never holds a thread."""
        with self._start_lock:
            if self._threads:
                return
            self._threads = [
                threading.Thread(target=self._work, name=f"gepakit-{i}", daemon=True)
                for i in range(self.workers)
            ]
            for thread in self._threads:
                thread.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fut, fn, args = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:
                fut.set_exception(exc)
            else:
                fut.set_result(result)
            del fut, fn, args, item

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        if self._closed:
            raise RuntimeError("the executor was shut down")
        if not self._threads:
            self._start()
        fut: Future[T] = Future()
        self._queue.put((fut, fn, args))
        return fut

    def shutdown(self, *, wait: bool = True) -> None:
        """Cancel calls not started yet; with `wait`, wait for the running ones."""
        if self._closed:
            return
        self._closed = True
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].cancel()
        with self._start_lock:
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        if wait:
            for thread in threads:
                thread.join()


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

    def shutdown(self, *, wait: bool = True) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5 if wait else 0.5)
        if not self._thread.is_alive():
            self._loop.close()
