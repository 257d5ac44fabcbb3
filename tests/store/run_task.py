"""Run the fake task with a run_dir in this process (used by the kill -9 tests).

Usage: python run_task.py RUN_DIR OUT_JSON CALLS_LOG [--workers N] [--mcp N]
           [--budget N] [--sleep S] [--kill-reflect K] [--kill-val K] [--surrogates]
           [--delete-log-at K] [--kill-at K] [--disk-full-at K] [--read-only-at K]
           [--val-policy P] [--frontier F] [--repeats N] [--no-reuse] [--batch]
           [--move-every N]

Faults counted in evaluator calls: --delete-log-at deletes run.db-log before call K,
--kill-at sends SIGKILL before call K, --disk-full-at / --read-only-at make the store's
disk full / read-only before call K: run.db by SQLite's page limit / query_only, and
the record log by failing its writes with ENOSPC / EROFS.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import fake_task

import gepakit
from gepakit.store import _moves as moves_module
from gepakit.store.sqlite import SQLiteStore

OPEN: list[SQLiteStore] = []


def track_stores() -> None:
    """Remember the run's store, so faults can be injected into its connection."""
    original = SQLiteStore.__init__

    def init(self: SQLiteStore, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        OPEN.append(self)

    SQLiteStore.__init__ = init  # type: ignore[method-assign]


def fail_log_writes(store: SQLiteStore, code: int) -> None:
    """Make every later write to the store's record log fail with OSError(code)."""

    def append(data: bytes) -> None:
        raise OSError(code, os.strerror(code))

    record_log = store._log  # pyright: ignore[reportPrivateUsage]
    assert record_log is not None
    record_log.append = append  # type: ignore[method-assign]


def fault(a: argparse.Namespace, run_dir: Path) -> Any:
    def on_call(n: int) -> None:
        store = OPEN[-1]
        conn = store._conn  # pyright: ignore[reportPrivateUsage]
        if n == a.delete_log_at:
            (run_dir / "run.db-log").unlink(missing_ok=True)
        if n == a.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        if n == a.disk_full_at:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages}")
            fail_log_writes(store, errno.ENOSPC)
        if n == a.read_only_at:
            conn.execute("PRAGMA query_only = 1")
            fail_log_writes(store, errno.EROFS)

    return on_call


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run_dir")
    p.add_argument("out")
    p.add_argument("calls_log")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--mcp", type=int, default=1)
    p.add_argument("--budget", type=int, default=120)
    p.add_argument("--sleep", type=float, default=0.005)
    p.add_argument("--kill-reflect", type=int, default=None)
    p.add_argument("--kill-val", type=int, default=None)
    p.add_argument("--surrogates", action="store_true")
    for name in ("--delete-log-at", "--kill-at", "--disk-full-at", "--read-only-at"):
        p.add_argument(name, type=int, default=None)
    p.add_argument("--val-policy", default="full")
    p.add_argument("--frontier", default="instance")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--no-reuse", action="store_true")
    p.add_argument("--batch", action="store_true", help="a batch evaluator (evaluate_batch)")
    p.add_argument("--move-every", type=int, default=None, help="records per move of the log")
    a = p.parse_args()
    track_stores()
    moves_module.SYNC_MIN_SECONDS = 0.0  # by record count: the fake task is fast
    if a.move_every:
        moves_module.MOVE_EVERY, moves_module.MOVE_MIN_SECONDS = a.move_every, 0.0
    seed, train, val = fake_task.SEED, fake_task.TRAIN, fake_task.VAL
    if a.surrogates:
        seed, train, val = fake_task.with_surrogates(seed, train, val)
    result = gepakit.optimize(
        seed,
        train,
        val,
        evaluator=(fake_task.BatchEvaluator if a.batch else fake_task.Evaluator)(
            sleep=a.sleep,
            calls_log=Path(a.calls_log),
            kill_on_val_call=a.kill_val,
            surrogates=a.surrogates,
            on_call=fault(a, Path(a.run_dir)),
        ),
        reflection_lm=fake_task.reflection(
            sleep=0.02, kill_on_call=a.kill_reflect, surrogates=a.surrogates
        ),
        max_metric_calls=a.budget,
        workers=a.workers,
        max_concurrent_proposals=a.mcp,
        run_dir=a.run_dir,
        seed=1,
        val_evaluation_policy=a.val_policy,
        frontier_type=a.frontier,
        eval_repeats=a.repeats,
        reuse_evaluations=not a.no_reuse,
    )
    result.to_json(a.out)


if __name__ == "__main__":
    main()
