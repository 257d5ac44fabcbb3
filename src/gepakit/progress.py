"""Live progress of a run: a rich display on a terminal or in a notebook, log lines elsewhere.

`ProgressDisplay` (terminal) and `NotebookDisplay` (Jupyter) are `EventSink`s.
`optimize(progress=None)` shows the terminal display when stderr is a terminal and the
notebook display inside Jupyter; `progress=True` forces a display, `False` turns it off.
Every run also logs one INFO line per proposal through the ``gepakit`` logger
(`gepakit.logsink.LogSink`), which shows on stderr when no display is shown and logging
is not configured, so CI logs and pipes see the run. `quiet=True` turns off both.
"""

from __future__ import annotations

import io
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

__all__ = [
    "NotebookDisplay",
    "ProgressDisplay",
    "ProgressState",
    "in_notebook",
    "progress_sinks",
    "sparkline",
]

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

    def reflection_usage(self) -> tuple[int, float | None] | None:
        """(reflection LM calls, total USD cost or None) from the ledger."""
        if self.ledger is None:
            return None
        return self.ledger.usage("reflection").calls, self.ledger.total().cost_usd

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
    reflection = state.reflection_usage()
    if reflection is not None:
        cost = "" if reflection[1] is None else f", ${reflection[1]:.4f}"
        budget.append(f" | {reflection[0]} reflection calls{cost}")
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


class _StateSink(EventSink):
    """Keeps a `ProgressState` up to date from events; subclasses draw it."""

    def __init__(self, ledger: Any = None) -> None:
        self.state = ProgressState(ledger)

    def _changed(self) -> None:
        """Called after every event that changed the state (draw if due)."""

    def _start(self) -> None: ...

    def close(self) -> None:
        """Stop the display (idempotent); call it when a run ends by an exception."""

    def run_started(self, info: Mapping[str, Any]) -> None:
        with self.state.lock:
            self.state.limit = int(info.get("max_metric_calls", 0))
            self.state.started = self.state.clock()
        self._start()

    def rollout_finished(self, rollout: Rollout) -> None:
        if rollout.split != "val":
            return
        with self.state.lock:
            scores = self.state.val_scores.setdefault(rollout.example_id, {})
            scores[rollout.candidate_id] = rollout.score

    def proposal_finished(self, proposal: Proposal) -> None:
        with self.state.lock:
            self.state.decisions[proposal.decision] += 1
        self._changed()

    def candidate_added(self, index: int, candidate: Candidate, val_score: float) -> None:
        with self.state.lock:
            self.state.candidates = max(self.state.candidates, index + 1)
            self.state.pool_ids.add(candidate.id)
        self._changed()

    def new_best(self, index: int, score: float) -> None:
        with self.state.lock:
            self.state.best_index = index
            self.state.best_score = score
            self.state.best_history.append(score)
        self._changed()

    def budget_update(self, used: int, limit: int, cache_hits: int) -> None:
        with self.state.lock:
            self.state.used, self.state.limit, self.state.cache_hits = used, limit, cache_hits
        self._changed()

    def run_finished(self, summary: Mapping[str, Any]) -> None:
        with self.state.lock:
            self.state.finished = dict(summary)
        self.close()


class ProgressDisplay(_StateSink):
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
        super().__init__(ledger)
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

    def _start(self) -> None:
        if not self._running:
            self._running = True
            self.live.start()

    def close(self) -> None:
        """Stop the live display (idempotent); call it when a run ends by an exception."""
        if self._running:
            self._running = False
            self.live.stop()


def in_notebook() -> bool:
    """Whether this process is a Jupyter (or Colab) kernel."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    if shell is None:
        return False
    name = type(shell).__name__
    return name == "ZMQInteractiveShell" or "google.colab" in type(shell).__module__


def _ipython_display(obj: Any) -> Any:
    from IPython.display import display  # type: ignore[import-not-found]

    return display(obj, display_id=True)


class _Html:
    """An object IPython shows as HTML (no IPython import needed to build it)."""

    def __init__(self, html: str) -> None:
        self.html = html

    def _repr_html_(self) -> str:
        return self.html


class NotebookDisplay(_StateSink):
    """Shows the progress summary in a Jupyter cell output, updated in place.

    Renders the same summary as `ProgressDisplay` to HTML (rich's export) and updates
    one IPython display (``display_id``), at most every `min_interval` seconds and once
    at the end; needs no ipywidgets.

    Args:
        ledger: a `gepakit.lm.UsageLedger` for tokens and cost (optional).
        display: ``fn(obj) -> handle with .update(obj)``; default IPython's
            ``display(obj, display_id=True)``.
        min_interval: seconds between redraws.
    """

    def __init__(
        self, *, ledger: Any = None, display: Any = None, min_interval: float = 0.5
    ) -> None:
        super().__init__(ledger)
        self.display_fn = display if display is not None else _ipython_display
        self.min_interval = min_interval
        self.handle: Any = None
        self._last = float("-inf")

    def html(self) -> str:
        """The summary as an HTML fragment."""
        console = Console(record=True, width=100, file=io.StringIO(), force_terminal=True)
        with self.state.lock:
            console.print(render_state(self.state))
        return console.export_html(inline_styles=True, code_format="<pre>{code}</pre>")

    def _draw(self) -> None:
        self._last = self.state.clock()
        obj = _Html(self.html())
        if self.handle is None:
            self.handle = self.display_fn(obj)
        else:
            self.handle.update(obj)

    def _start(self) -> None:
        self._draw()

    def _changed(self) -> None:
        if self.state.clock() - self._last >= self.min_interval:
            self._draw()

    def close(self) -> None:
        """Draw the final state (idempotent)."""
        if self.handle is not None:
            self._draw()


def progress_sinks(
    progress: bool | None, *, ledger: Any = None, quiet: bool = False
) -> list[EventSink]:
    """The progress sinks for `optimize(progress=..., quiet=...)`.

    Args:
        progress: True shows a display, False hides it, None shows it only when stderr
            is an interactive terminal or the process is a Jupyter kernel.
        ledger: a `UsageLedger` for tokens and cost.
        quiet: no display and no log lines (warnings still go to the ``gepakit`` logger).

    Returns:
        A `ProgressDisplay` or `NotebookDisplay` when a display is shown, then a
        `LogSink` (which adds a stderr handler only when no display is shown).
    """
    if quiet:
        return []
    from gepakit.logsink import LogSink

    notebook = in_notebook()
    if progress is None:
        isatty = getattr(sys.stderr, "isatty", None)
        progress = notebook or bool(isatty and isatty())
    sinks: list[EventSink] = []
    if progress:
        sinks.append(NotebookDisplay(ledger=ledger) if notebook else ProgressDisplay(ledger=ledger))
    sinks.append(LogSink(install_handler=not progress))
    return sinks
