"""What state a run directory is in, and starting it over.

`run_state` tells a finished run from a failed, an interrupted and a running one (for
`gepakit status` and for the hint printed when a finished run is re-run);
`start_fresh` moves a used run directory aside so `optimize(overwrite=True)` /
`gepakit run --fresh` can start over without destroying paid work.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gepakit.errors import RunInUseError, StoreError

__all__ = ["RunState", "is_active", "run_state", "start_fresh"]

log = logging.getLogger("gepakit")

StateKind = Literal["new", "running", "finished", "failed", "interrupted"]
DB_NAME = "run.db"
LOCK_NAME = ".lock"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunState:
    """The state of a run directory.

    `kind`: ``new`` (no run yet), ``running`` (a process holds the run's lock),
    ``finished`` (the last session ended normally; `detail` is its stop reason),
    ``failed`` (the last session raised; `detail` is the error), or ``interrupted``
    (the last session ended without either: killed, crashed, Ctrl-C twice).
    `metric_calls` is the number of rollouts the run paid for.
    """

    kind: StateKind
    detail: str = ""
    metric_calls: int = 0

    def describe(self) -> str:
        """One line, e.g. ``finished: budget exhausted ...``."""
        words = {
            "new": "new: no run yet",
            "running": "running (another process has the run open)",
            "interrupted": "interrupted: the last session stopped before it finished "
            "(killed or crashed); run it again with the same settings to resume",
        }
        if self.kind in words:
            return words[self.kind]
        return f"{self.kind}: {self.detail}" if self.detail else self.kind


def is_active(run_dir: str | Path) -> bool:
    """Whether a process holds the run's lock (the run is going on right now).

    Never takes the lock, not even for a moment: a run starting at that instant would
    find it taken and fail with "run in use". On Linux the kernel's lock table
    (/proc/locks) is read; elsewhere, whether the pid in the lock file is alive.
    """
    path = Path(run_dir) / LOCK_NAME
    try:
        inode = path.stat().st_ino
    except OSError:
        return False
    held = _flock_held(inode)
    return held if held is not None else _pid_alive(path)


def _flock_held(inode: int) -> bool | None:
    """Whether /proc/locks lists a FLOCK on `inode`; None when it cannot be read."""
    try:
        table = Path("/proc/locks").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" ("->" marks blocked waiters)
        if "FLOCK" in fields and "->" not in fields:
            device_inode = next((f for f in fields if f.count(":") == 2), "")
            if device_inode.rsplit(":", 1)[-1] == str(inode):
                return True
    return False


def _pid_alive(lock_file: Path) -> bool:
    try:
        pid = int(lock_file.read_text(encoding="utf-8").strip() or "0")
    except (OSError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_state(run_dir: str | Path) -> RunState:
    """The state of the run in `run_dir` (see `RunState`).

    Raises:
        StoreError: run.db exists but cannot be read.
    """
    run_dir = Path(run_dir)
    if not (run_dir / DB_NAME).is_file():
        return RunState(kind="new")
    from gepakit.store.sqlite import SQLiteStore

    # The lock first, then the events: a run writes its last event before it releases
    # the lock, so events read after seeing the lock free include it (the other order
    # could read a running run's events, then find the lock just released: "interrupted").
    active = is_active(run_dir)
    with SQLiteStore(run_dir, readonly=True) as store:
        events = store.events()
        calls = store.paid_count
    if active:
        return RunState(kind="running", metric_calls=calls)
    kinds = [k for _, k, _ in events]
    starts = [i for i, k in enumerate(kinds) if k == "session_started"]
    session = events[starts[-1] :] if starts else events
    for _, kind, data in reversed(session):
        if kind == "run_finished":
            return RunState(
                kind="finished", detail=str(data.get("stop_reason") or ""), metric_calls=calls
            )
        if kind == "run_failed":
            detail = f"{data.get('type', 'error')}: {data.get('error', '')}"
            return RunState(kind="failed", detail=detail, metric_calls=calls)
    if not events:
        return RunState(kind="new", metric_calls=calls)
    return RunState(kind="interrupted", metric_calls=calls)


def start_fresh(run_dir: str | Path, *, clock: float | None = None) -> Path | None:
    """Move the run in `run_dir` aside so a new run can start there.

    The old directory is renamed to ``<run_dir>.old-<YYYYmmdd-HHMMSS>`` (never deleted:
    it holds paid work) and a warning names it. Nothing happens when `run_dir` holds
    no run.

    Returns:
        Where the old run now is, or None.

    Raises:
        RunInUseError: a process has the run open.
        StoreError: the directory cannot be renamed.
    """
    run_dir = Path(run_dir)
    if not (run_dir / DB_NAME).exists():
        return None
    if is_active(run_dir):
        raise RunInUseError(
            f"cannot start {run_dir} over: another process has the run open; stop it first "
            "(create a STOP file in the run directory) or use another run_dir"
        )
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(clock))
    target = run_dir.with_name(f"{run_dir.name}.old-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = run_dir.with_name(f"{run_dir.name}.old-{stamp}-{n}")
    try:
        run_dir.rename(target)
    except OSError as exc:
        raise StoreError(f"cannot move the old run {run_dir} aside to {target}: {exc}") from exc
    log.warning("starting over: the previous run in %s was moved to %s", run_dir, target)
    return target


def record_failure(store: object, error: BaseException) -> None:
    """Log a ``run_failed`` event in `store` (best effort), so status can say so."""
    put = getattr(store, "put_event", None)
    if not callable(put):
        return
    from gepakit.textsafe import for_terminal

    data = {"type": type(error).__name__, "error": for_terminal(error, one_line=True)[:500]}
    with contextlib.suppress(Exception):
        put("run_failed", data)
