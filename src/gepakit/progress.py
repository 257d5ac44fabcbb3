"""Live progress of a run on a terminal: a rich display driven by engine events.

`ProgressDisplay` is an `EventSink`. `optimize(progress=None)` adds one only when stderr
is a terminal, so logs and CI output stay clean; `progress=True` forces it, `False`
turns it off. Messages (proposal outcomes, new bests) go to the ``gepakit.progress``
logger, never to print.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from rich.console import Console, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from gepakit.engine.protocols import EventSink
from gepakit.types import Candidate, Proposal, Rollout

__all__ = ["ProgressDisplay", "ProgressState", "progress_sinks", "sparkline"]

log = logging.getLogger("gepakit.progress")

_BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 24) -> str:
    """The last `width` values as unicode block characters, scaled to their range."""
    shown = values[-width:]
    if not shown:
        return ""
    lo, hi = min(shown), max(shown)
    if hi <= lo:
        return _BLOCKS[-1] * len(shown)
    return "".join(_BLOCKS[round((v - lo) / (hi - lo) * (len(_BLOCKS) - 1))] for v in shown)


class ProgressState:
    """What the display shows, updated from events; plain data, safe to read under `lock`.

    The frontier counts the pool candidates that reach the best score on at least one val
    example, from the val rollouts this process saw (cached rollouts are not seen).
    """

    def __init__(self, ledger: Any = None, clock: Any = time.monotonic) -> None:
        self.lock = threading.Lock()
        self.ledger = ledger
        self.clock = clock
        self.started = clock()
        self.used = 0
        self.limit = 0
        self.cache_hits = 0
        self.decisions: Counter[str] = Counter()
        self.best_index: int | None = None
        self.best_score: float | None = None
        self.best_history: list[float] = []
        self.candidates = 0
        self.pool_ids: set[str] = set()
        self.val_scores: dict[str, dict[str, float]] = {}
        self.finished: Mapping[str, Any] | None = None

    def frontier_size(self) -> int:
        """Candidates in the pool that lead on at least one val example."""
        leaders: set[str] = set()
        for scores in self.val_scores.values():
            pooled = {cid: s for cid, s in scores.items() if cid in self.pool_ids}
            if pooled:
                top = max(pooled.values())
                leaders.update(cid for cid, s in pooled.items() if s == top)
        return len(leaders)

    def elapsed(self) -> float:
        return self.clock() - self.started

    def eta(self) -> float | None:
        """Seconds left at the average pace so far, or None before the first call."""
        if self.used <= 0 or self.limit <= self.used:
            return None if self.used <= 0 else 0.0
        return self.elapsed() / self.used * (self.limit - self.used)

    def usage(self) -> tuple[int, int, float | None] | None:
        """(prompt tokens, completion tokens, cost in USD or None) from the ledger."""
        if self.ledger is None:
            return None
        total = self.ledger.total()
        return total.prompt_tokens, total.completion_tokens, total.cost_usd


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def render_state(state: ProgressState) -> RenderableType:
    """The display of `state`: budget bar, proposals, best score and trend, frontier, usage."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    budget = _bar(state.used, state.limit)
    budget.append(f" {state.used}/{state.limit or '?'} metric calls")
    if state.cache_hits:
        budget.append(f" ({state.cache_hits} cache hits)", style="dim")
    grid.add_row("budget", budget)
    d = state.decisions
    grid.add_row(
        "proposals",
        Text.assemble(
            (f"{d['accepted']} accepted", "green"),
            ", ",
            (f"{d['rejected']} rejected", "yellow"),
            f", {d['skipped']} skipped",
            (f", {d['failed']} failed", "red") if d["failed"] else "",
        ),
    )
    if state.best_score is None:
        grid.add_row("best val", "-")
    else:
        grid.add_row(
            "best val",
            Text.assemble(
                (f"{state.best_score:.3f}", "bold cyan"),
                f" (#{state.best_index})  ",
                (sparkline(state.best_history), "cyan"),
            ),
        )
    grid.add_row("pool", f"{state.candidates} candidates, frontier {state.frontier_size()}")
    usage = state.usage()
    if usage is not None:
        cost = "cost unknown" if usage[2] is None else f"${usage[2]:.4f}"
        grid.add_row("LM usage", f"{usage[0]:,} prompt + {usage[1]:,} completion tokens, {cost}")
    grid.add_row("time", f"{_duration(state.elapsed())} elapsed, ETA {_duration(state.eta())}")
    return grid


def _bar(used: int, limit: int, width: int = 32) -> Text:
    """A one-line bar of text blocks, `used` of `limit` filled."""
    filled = 0 if limit <= 0 else round(width * min(1.0, used / limit))
    return Text.assemble(("━" * filled, "magenta"), ("━" * (width - filled), "grey35"))


class ProgressDisplay(EventSink):
    """An `EventSink` that shows a live summary of the run on a rich console.

    Args:
        ledger: a `gepakit.lm.UsageLedger` for tokens and cost (optional).
        console: where to draw; default a console on stderr.
        refresh_per_second: redraw rate of the live display.

    The display starts at `run_started` and stops at `run_finished` or `close()`.
    Event methods are called on the engine thread; the redraw thread reads the state
    under its lock.
    """

    def __init__(
        self,
        *,
        ledger: Any = None,
        console: Console | None = None,
        refresh_per_second: float = 4.0,
    ) -> None:
        self.state = ProgressState(ledger)
        self.console = console if console is not None else Console(stderr=True)
        self.live = Live(
            console=self.console,
            get_renderable=self._renderable,
            refresh_per_second=refresh_per_second,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._running = False

    def _renderable(self) -> RenderableType:
        with self.state.lock:
            return render_state(self.state)

    def run_started(self, info: Mapping[str, Any]) -> None:
        with self.state.lock:
            self.state.limit = int(info.get("max_metric_calls", 0))
            self.state.started = self.state.clock()
        if not self._running:
            self._running = True
            self.live.start()

    def rollout_finished(self, rollout: Rollout) -> None:
        if rollout.split != "val":
            return
        with self.state.lock:
            scores = self.state.val_scores.setdefault(rollout.example_id, {})
            scores[rollout.candidate_id] = rollout.score

    def proposal_finished(self, proposal: Proposal) -> None:
        with self.state.lock:
            self.state.decisions[proposal.decision] += 1
        log.info(
            "proposal %d (%s) at %d metric calls: %s: %s",
            proposal.index,
            proposal.kind,
            proposal.metric_calls_at,
            proposal.decision,
            proposal.reason,
        )

    def candidate_added(self, index: int, candidate: Candidate, val_score: float) -> None:
        with self.state.lock:
            self.state.candidates = max(self.state.candidates, index + 1)
            self.state.pool_ids.add(candidate.id)

    def new_best(self, index: int, score: float) -> None:
        with self.state.lock:
            self.state.best_index = index
            self.state.best_score = score
            self.state.best_history.append(score)
        log.info("new best: candidate %d with val score %.4f", index, score)

    def budget_update(self, used: int, limit: int, cache_hits: int) -> None:
        with self.state.lock:
            self.state.used, self.state.limit, self.state.cache_hits = used, limit, cache_hits

    def run_finished(self, summary: Mapping[str, Any]) -> None:
        with self.state.lock:
            self.state.finished = dict(summary)
        self.close()
        log.info(
            "run finished: %s; best val score %s after %s metric calls",
            summary.get("stop_reason"),
            summary.get("best_score"),
            summary.get("total_metric_calls"),
        )

    def close(self) -> None:
        """Stop the live display (idempotent); call it when a run ends by an exception."""
        if self._running:
            self._running = False
            self.live.stop()


def progress_sinks(progress: bool | None, *, ledger: Any = None) -> list[EventSink]:
    """The progress sinks for `optimize(progress=...)`.

    Args:
        progress: True shows progress, False hides it, None shows it only when stderr
            is an interactive terminal.
        ledger: a `UsageLedger` for tokens and cost.

    Returns:
        A list with one `ProgressDisplay`, or an empty list.
    """
    if progress is None:
        isatty = getattr(sys.stderr, "isatty", None)
        progress = bool(isatty and isatty())
    return [ProgressDisplay(ledger=ledger)] if progress else []
