"""The live view of a running run: `watch_run` rewrites the report while the run writes.

The run and the watcher share nothing but the run directory: the watcher opens the
store read-only (it reads run.db and the run's record log; a run puts off moving its
log into run.db while a read holds the file, rather than wait) and never takes the run
lock, so watching cannot disturb or block a run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from gepakit.report.data import build_report_data
from gepakit.report.details import load_details
from gepakit.report.html import write_html
from gepakit.result import Result
from gepakit.run_state import run_state

__all__ = ["WatchState", "status_line", "watch_run", "watch_state"]

WatchState = Literal["waiting", "running", "finished", "interrupted", "failed"]


def watch_state(run_dir: str | Path, result: Result | None) -> WatchState:
    """What the run in `run_dir` is doing, for the watcher (see `gepakit.run_state`)."""
    if result is None or not result.candidates:
        return "waiting"
    kind = run_state(run_dir).kind
    return "waiting" if kind == "new" else kind


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
) -> WatchState:
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
        The run's state when watching stopped: "finished", "failed", "interrupted",
        or (with `once` or `timeout`) "running" / "waiting".
    """
    path = Path(run_dir)
    start = time.monotonic()
    last = ""
    while True:
        result = _load(path)
        state = watch_state(path, result)
        if state in ("finished", "failed", "interrupted"):
            result = _load(path)  # the run may have ended after the first read
        if result is not None and state != "waiting":
            details = load_details(path, result)
            data = build_report_data(result, details=details)
            write_html(data, output, refresh=max(1.0, interval) if state == "running" else None)
            line = status_line(result)
            if line.split("  ", 1)[1] != last:
                echo(line)
                last = line.split("  ", 1)[1]
        if once or state in ("finished", "failed", "interrupted"):
            return state
        if timeout is not None and time.monotonic() - start >= timeout:
            return state
        sleep(interval)
