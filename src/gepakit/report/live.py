"""The live view of a running run: `watch_run` rewrites the report while the run writes.

The run and the watcher share nothing but the run directory: the watcher opens the
SQLite store read-only (WAL readers never block the writer) and never takes the run
lock, so watching cannot disturb or block a run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from gepakit.report.data import build_report_data
from gepakit.report.details import load_details
from gepakit.report.html import write_html
from gepakit.result import Result

__all__ = ["RunState", "run_state", "status_line", "watch_run"]

RunState = Literal["waiting", "running", "finished", "interrupted"]

NOT_FINISHED = "not finished"
"""How `gepakit.load_run` starts the stop reason of a run whose last session has not ended."""


def _holder_alive(run_dir: Path) -> bool:
    """Whether the process named in the run's lock file is alive.

    Reading the pid instead of trying the lock: taking the lock, even for a moment,
    could make a run that starts at that instant fail with "run in use".
    """
    try:
        pid = int((run_dir / ".lock").read_text(encoding="utf-8").strip() or "0")
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


def run_state(run_dir: str | Path, result: Result | None) -> RunState:
    """What the run in `run_dir` is doing, given its loaded `result` (None: not readable yet)."""
    if result is None or not result.candidates:
        return "waiting"
    if not result.stop_reason.startswith(NOT_FINISHED):
        return "finished"
    return "running" if _holder_alive(Path(run_dir)) else "interrupted"


def status_line(result: Result) -> str:
    """One line about a run: calls used, candidates, proposals, best, cost."""
    accepted = sum(p.decision == "accepted" for p in result.proposals)
    limit = f"/{result.max_metric_calls}" if result.max_metric_calls else ""
    cost = ""
    roles = result.usage.get("roles", {}) if isinstance(result.usage, dict) else {}
    costs = [r.get("cost_usd") for r in roles.values() if isinstance(r, dict)]
    if costs and all(c is not None for c in costs):
        cost = f"  cost ${sum(float(c) for c in costs if c is not None):.4f}"
    return (
        f"{time.strftime('%H:%M:%S')}  calls {result.total_metric_calls}{limit}  "
        f"candidates {result.num_candidates}  proposals {len(result.proposals)} "
        f"({accepted} accepted)  best {result.best_score:.4g} (#{result.best_idx}){cost}"
    )


def _load(run_dir: Path) -> Result | None:
    from gepakit import load_run
    from gepakit.errors import GepakitError

    if not (run_dir / "run.db").is_file():
        return None
    try:
        return load_run(run_dir)
    except GepakitError:
        return None  # no run configuration yet, or a record being written


def watch_run(
    run_dir: str | Path,
    output: str | Path,
    *,
    interval: float = 2.0,
    once: bool = False,
    timeout: float | None = None,
    echo: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> RunState:
    """Follow the run in `run_dir`, rewriting the report at `output` as it changes.

    While the run goes on, the page reloads itself every `interval` seconds and says it
    is live; once the run ends the final page (no reload) is written and the function
    returns. A status line is echoed whenever it changes.

    Args:
        run_dir: the run directory (it may not exist yet: the watcher waits).
        output: the HTML file to write.
        interval: seconds between looks at the store (and the page's reload period).
        once: look once, write the page, and return.
        timeout: give up after this many seconds (returns the state then).
        echo: where status lines go.
        sleep: how to wait (tests pass a fake).

    Returns:
        The run's state when watching stopped: "finished", "interrupted", or (with
        `once` or `timeout`) "running" / "waiting".
    """
    path = Path(run_dir)
    start = time.monotonic()
    last = ""
    while True:
        result = _load(path)
        state = run_state(path, result)
        if result is not None and state != "waiting":
            details = load_details(path, result)
            data = build_report_data(result, details=details)
            write_html(data, output, refresh=max(1.0, interval) if state == "running" else None)
            line = status_line(result)
            if line.split("  ", 1)[1] != last:
                echo(line)
                last = line.split("  ", 1)[1]
        if once or state in ("finished", "interrupted"):
            return state
        if timeout is not None and time.monotonic() - start >= timeout:
            return state
        sleep(interval)
