"""One INFO log line per proposal and per new candidate, through `logging`.

`LogSink` is an `EventSink` that writes to the ``gepakit`` logger, so a run is visible
wherever logging goes: a CI log, a pipe, a notebook, a file handler of your own.

Python shows only warnings until logging is configured. So when nothing in the process
configured logging (no handler on the ``gepakit`` logger or the root logger), the sink
adds a handler on stderr for the duration of the run, at INFO (``install_handler=True``,
what `gepakit.optimize` does when no live display is shown). Configure logging yourself
(``logging.basicConfig(level=logging.INFO)``) and gepakit uses your setup instead; pass
``quiet=True`` to `optimize` for no lines at all.

Text that an LM or an evaluator controls (a proposal's reason) is stripped of terminal
escape sequences and cut to one short line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from gepakit.engine.protocols import EventSink
from gepakit.textsafe import for_terminal
from gepakit.types import Candidate, Proposal

__all__ = ["LOG_FORMAT", "LogSink", "SanitizingFilter"]

log = logging.getLogger("gepakit")

LOG_FORMAT = "%(asctime)s gepakit %(levelname)s %(message)s"
_REASON_CHARS = 240


class SanitizingFilter(logging.Filter):
    """Removes terminal escape sequences from a record's formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = for_terminal(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def _scores(values: tuple[float, ...]) -> str:
    return f"{sum(values):g}/{len(values)}" if values else "-"


class LogSink(EventSink):
    """Logs the run's progress at INFO on the ``gepakit`` logger.

    Args:
        install_handler: add a stderr handler (and INFO level) for the run when logging
            is not configured in this process; removed when the run ends.
        stream: the handler's stream (default: ``sys.stderr`` at the run's start).

    One line per finished proposal (decision, minibatch scores parent -> child, metric
    calls used of the budget, best so far, the reason), one per candidate joining the
    pool (its val score), one at the start and one at the end.
    """

    def __init__(self, *, install_handler: bool = True, stream: Any = None) -> None:
        self.install_handler = install_handler
        self.stream = stream
        self.used = 0
        self.limit = 0
        self.best_index: int | None = None
        self.best_score: float | None = None
        self._handler: logging.Handler | None = None
        self._old_level = logging.NOTSET

    # -- the temporary handler -------------------------------------------------

    def _open_handler(self) -> None:
        if not self.install_handler or self._handler is not None or log.hasHandlers():
            return
        handler = logging.StreamHandler(self.stream if self.stream is not None else sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%H:%M:%S"))
        handler.addFilter(SanitizingFilter())
        self._handler = handler
        self._old_level = log.level
        log.addHandler(handler)
        if log.getEffectiveLevel() > logging.INFO:
            log.setLevel(logging.INFO)

    def close(self) -> None:
        """Remove the handler this sink added (idempotent)."""
        handler, self._handler = self._handler, None
        if handler is not None:
            log.removeHandler(handler)
            log.setLevel(self._old_level)
            handler.flush()

    # -- events ----------------------------------------------------------------

    def _best(self) -> str:
        if self.best_score is None:
            return "best -"
        return f"best {self.best_score:.4g} (#{self.best_index})"

    def run_started(self, info: Mapping[str, Any]) -> None:
        self._open_handler()
        self.limit = int(info.get("max_metric_calls", 0) or 0)
        log.info(
            "run started: budget %s metric calls, %s train / %s val examples, components %s",
            self.limit,
            info.get("train", "?"),
            info.get("val", "?"),
            ", ".join(map(str, info.get("components", ()))) or "-",
        )

    def budget_update(self, used: int, limit: int, cache_hits: int) -> None:
        self.used, self.limit = used, limit

    def proposal_finished(self, proposal: Proposal) -> None:
        reason = for_terminal(proposal.reason, one_line=True)
        if len(reason) > _REASON_CHARS:
            reason = reason[: _REASON_CHARS - 3] + "..."
        log.info(
            "proposal %d (%s) %s: minibatch %s -> %s | %d/%d metric calls | %s | %s",
            proposal.index,
            proposal.kind,
            proposal.decision,
            _scores(proposal.parent_scores),
            _scores(proposal.child_scores),
            self.used,
            self.limit,
            self._best(),
            reason,
        )

    def candidate_added(self, index: int, candidate: Candidate, val_score: float) -> None:
        log.info(
            "candidate %d joins the pool: val score %.4g | %d/%d metric calls",
            index,
            val_score,
            self.used,
            self.limit,
        )

    def new_best(self, index: int, score: float) -> None:
        self.best_index, self.best_score = index, score
        log.info("new best: candidate %d, val score %.4g", index, score)

    def run_finished(self, summary: Mapping[str, Any]) -> None:
        log.info(
            "run finished: %s | %s metric calls | %s",
            for_terminal(summary.get("stop_reason") or "-", one_line=True),
            summary.get("total_metric_calls", self.used),
            self._best(),
        )
        self.close()
