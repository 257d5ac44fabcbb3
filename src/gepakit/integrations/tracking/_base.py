"""What the MLflow and W&B sinks share: events -> metrics over metric calls, artifacts."""

from __future__ import annotations

import json
import logging
import tempfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gepakit.engine.protocols import EventSink
from gepakit.result import Result
from gepakit.types import Candidate, Proposal

log = logging.getLogger("gepakit.tracking")

CANDIDATE_COLUMNS = ("index", "origin", "parents", "val_score", "metric_calls", "is_best", "texts")


def candidate_rows(result: Result) -> list[list[Any]]:
    """One row per candidate, in `CANDIDATE_COLUMNS` order (texts as JSON)."""
    best = result.best_idx
    return [
        [
            i,
            result.origins[i] if i < len(result.origins) else "",
            ",".join(str(p) for p in result.parents[i]),
            result.val_aggregate_scores[i],
            result.discovery_eval_counts[i],
            i == best,
            json.dumps(dict(texts), ensure_ascii=False),
        ]
        for i, texts in enumerate(result.candidates)
    ]


def best_prompt_text(result: Result) -> str:
    """The best candidate as text: the one component's text, or JSON for several."""
    best = result.best_candidate
    if len(best) == 1:
        return next(iter(best.values()))
    return json.dumps(best, indent=2, ensure_ascii=False)


def usage_metrics(result: Result) -> dict[str, float]:
    """Token and cost totals of the run's LM usage ledger, as flat metrics."""
    roles: Mapping[str, Any] = result.usage.get("roles", {})
    metrics: dict[str, float] = {}
    for role, counts in roles.items():
        for key in ("calls", "prompt_tokens", "completion_tokens", "cost_usd"):
            value = counts.get(key)
            if isinstance(value, (int, float)):
                metrics[f"lm_{role}_{key}"] = float(value)
    return metrics


class TrackingSink(EventSink):
    """Turns run events into metric logs keyed by metric calls used; subclasses send them.

    Subclasses implement `_open`, `_log_metrics`, `_finish` and `_close`. The final
    `Result` arrives in the ``result`` entry of the `run_finished` summary (added by
    `gepakit.optimize`); without it only the metrics are logged.
    """

    def __init__(self, *, log_report: bool = True) -> None:
        self.log_report = log_report
        self.used = 0
        self.decisions: Counter[str] = Counter()
        self.opened = False

    # -- for subclasses ------------------------------------------------------

    def _open(self, info: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def _log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        raise NotImplementedError

    def _finish(self, result: Result, report: Path | None) -> None:
        raise NotImplementedError

    def _close(self, failed: bool) -> None:
        raise NotImplementedError

    # -- events ----------------------------------------------------------------

    def run_started(self, info: Mapping[str, Any]) -> None:
        self._open(info)
        self.opened = True

    def budget_update(self, used: int, limit: int, cache_hits: int) -> None:
        self.used = used

    def candidate_added(self, index: int, candidate: Candidate, val_score: float) -> None:
        self._log_metrics(
            {"candidate_val_score": val_score, "num_candidates": index + 1}, self.used
        )

    def new_best(self, index: int, score: float) -> None:
        self._log_metrics({"best_val_score": score, "best_candidate": index}, self.used)

    def proposal_finished(self, proposal: Proposal) -> None:
        self.decisions[proposal.decision] += 1
        metrics = {f"proposals_{k}": float(v) for k, v in self.decisions.items()}
        self._log_metrics(metrics, self.used)

    def run_finished(self, summary: Mapping[str, Any]) -> None:
        if not self.opened:
            return
        result = summary.get("result")
        final = {"metric_calls_used": float(summary.get("total_metric_calls", self.used))}
        if isinstance(summary.get("best_score"), (int, float)):
            final["final_best_val_score"] = float(summary["best_score"])
        if isinstance(result, Result):
            final.update(usage_metrics(result))
        self._log_metrics(final, self.used)
        if isinstance(result, Result):
            with tempfile.TemporaryDirectory(prefix="gepakit-report-") as tmp:
                self._finish(result, self._report(result, Path(tmp)))
        self._close(failed=False)
        self.opened = False

    def close(self) -> None:
        """End the tracking run as failed if `run_finished` never came (idempotent)."""
        if self.opened:
            self.opened = False
            self._close(failed=True)

    def _report(self, result: Result, tmp: Path) -> Path | None:
        if not self.log_report:
            return None
        from gepakit.report import write_report

        try:
            return write_report(result, tmp / "report.html")
        except Exception:
            log.warning("could not build the HTML report for the tracker", exc_info=True)
            return None
