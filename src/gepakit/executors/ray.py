"""`RayExecutor`: run rollouts as Ray tasks on a local or an existing Ray cluster.

Only rollouts travel: the engine and the run store stay on the driver. The rollout
function, the examples and the candidates are each put into Ray's object store once
and passed to tasks by reference; a worker process deserializes each of them once
and keeps it for later tasks. A task whose worker process dies is retried by Ray
(`max_retries`), so a lost worker costs one more attempt, never a lost or
double-counted rollout: the engine counts a rollout once, when its future resolves.

Requires the ``ray`` extra: ``pip install 'gepakit[ray]'``.
"""

from __future__ import annotations

import inspect
import os
import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, TypeVar

from gepakit.errors import MissingExtraError

T = TypeVar("T")

_INLINE_TYPES = (str, bytes, int, float, bool, type(None))
_WORKER_CACHE_LIMIT = 4096
_worker_cache: dict[bytes, Any] = {}
"""In a Ray worker process: object id -> the deserialized object."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingExtraError("ray", "ray") from exc
    return ray


class _Shipped:
    """An argument that is in the object store; a worker fetches it once and caches it."""

    __slots__ = ("ref",)

    def __init__(self, ref: Any) -> None:
        self.ref = ref


def _fetch(value: Any) -> Any:
    """In a worker: the object behind a `_Shipped` reference (cached), else `value`."""
    if not isinstance(value, _Shipped):
        return value
    key: bytes = value.ref.binary()
    try:
        return _worker_cache[key]
    except KeyError:
        pass
    obj = _import_ray().get(value.ref)
    if len(_worker_cache) >= _WORKER_CACHE_LIMIT:
        _worker_cache.clear()
    _worker_cache[key] = obj
    return obj


def run_shipped(fn: Any, *args: Any) -> Any:
    """The body of every Ray task: resolve the shipped function and arguments, call.

    A coroutine function is run to completion on a fresh event loop in the worker.
    """
    func = _fetch(fn)
    values = [_fetch(a) for a in args]
    out = func(*values)
    if inspect.iscoroutine(out):
        import asyncio

        return asyncio.run(out)
    return out


def worker_pid() -> int:
    """The process id of the Ray worker running this code (for tests and diagnostics)."""
    return os.getpid()


class RayExecutor:
    """Runs each submitted call as a Ray task, at most `workers` at once.

    Args:
        workers: tasks in flight at once. Submissions beyond that wait on the driver,
            so a shared cluster sees at most `workers` gepakit tasks from this run.
        address: a Ray cluster to connect to ("auto", "ray://host:10001", ...). When
            Ray is not initialized and neither `address` nor ``RAY_ADDRESS`` is set, a
            local Ray instance is started with `workers` CPUs and no dashboard.
        max_retries: how often Ray retries a task whose worker process died.
        num_cpus: CPUs each task reserves on the cluster.
        init_options: extra keyword arguments for ``ray.init`` (e.g. ``_temp_dir``).

    If this executor started Ray, `shutdown` stops it; a Ray instance that was
    already running (or that `address` names) is left running.

    The function and the arguments must be picklable (cloudpickle). Arguments that
    are not plain scalars are put into the object store once per object identity,
    so they must not be mutated after their first submission.

    Raises:
        MissingExtraError: Ray is not installed.
        ValueError: `workers` or `max_retries` is out of range.
    """

    def __init__(
        self,
        workers: int,
        address: str | None = None,
        *,
        max_retries: int = 3,
        num_cpus: float = 1,
        init_options: Mapping[str, Any] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        ray = _import_ray()
        self.workers = workers
        self.max_retries = max_retries
        self.owns_ray = False
        if not ray.is_initialized():
            options = dict(init_options or {})
            if address is None and not os.environ.get("RAY_ADDRESS"):
                options.setdefault("num_cpus", workers)
                options.setdefault("include_dashboard", False)
            ray.init(address=address, **options)
            self.owns_ray = True
        self._ray = ray
        self._task = ray.remote(run_shipped).options(
            max_retries=max_retries, retry_exceptions=False, num_cpus=num_cpus
        )
        self._shipped: dict[int, tuple[Any, _Shipped]] = {}
        self._slots = threading.BoundedSemaphore(workers)
        self._pending: queue.SimpleQueue[tuple[Future[Any], Any, tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._running: dict[int, Any] = {}
        self._running_lock = threading.Lock()
        self._closed = False
        self._dispatcher = threading.Thread(
            target=self._dispatch_loop, name="gepakit-ray-dispatch", daemon=True
        )
        self._dispatcher.start()

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        """Queue ``fn(*args)`` as a Ray task; the future resolves with its return value.

        Raises:
            RuntimeError: the executor was shut down.
        """
        if self._closed:
            raise RuntimeError("RayExecutor.submit called after shutdown()")
        out: Future[T] = Future()
        self._pending.put((out, fn, args))
        return out

    def shutdown(self) -> None:
        """Cancel queued and running tasks, drop shipped objects, stop Ray if we started it."""
        if self._closed:
            return
        self._closed = True
        self._pending.put(None)
        self._dispatcher.join(timeout=10)
        with self._running_lock:
            running = list(self._running.values())
            self._running.clear()
        for ref in running:
            self._ray.cancel(ref)
        self._shipped.clear()
        if self.owns_ray:
            self._ray.shutdown()

    # -- dispatcher thread ---------------------------------------------------

    def _dispatch_loop(self) -> None:
        while True:
            item = self._pending.get()
            if item is None or self._closed:
                self._cancel_pending(item)
                return
            while not self._slots.acquire(timeout=0.1):
                if self._closed:
                    self._cancel_pending(item)
                    return
            self._launch(*item)

    def _cancel_pending(self, item: tuple[Future[Any], Any, tuple[Any, ...]] | None) -> None:
        while item is not None or not self._pending.empty():
            if item is not None:
                item[0].cancel()
            item = None if self._pending.empty() else self._pending.get()

    def _launch(self, out: Future[Any], fn: Any, args: tuple[Any, ...]) -> None:
        if not out.set_running_or_notify_cancel():
            self._slots.release()
            return
        try:
            shipped = [self._ship(a) for a in args]
            ref = self._task.remote(self._ship(fn, always=True), *shipped)
            ray_future: Future[Any] = ref.future()
        except BaseException as exc:
            self._slots.release()
            out.set_exception(exc)
            return
        with self._running_lock:
            self._running[id(out)] = ref
        ray_future.add_done_callback(lambda f: self._settle(out, f))

    def _settle(self, out: Future[Any], done: Future[Any]) -> None:
        with self._running_lock:
            self._running.pop(id(out), None)
        self._slots.release()
        exc = done.exception()
        if exc is not None:
            out.set_exception(exc)
        else:
            out.set_result(done.result())

    def _ship(self, value: Any, *, always: bool = False) -> Any:
        """A `_Shipped` reference to `value` in the object store (put once), or `value`."""
        if not always and isinstance(value, _INLINE_TYPES):
            return value
        entry = self._shipped.get(id(value))
        if entry is None or entry[0] is not value:
            entry = (value, _Shipped(self._ray.put(value)))
            self._shipped[id(value)] = entry
        return entry[1]
