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


def describe(value: Any) -> str:
    """A short text for a setting: a model name for LMs, a dotted name for functions."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return str(value)
    model = getattr(value, "model", None)
    if isinstance(model, str):
        return model
    if isinstance(value, (list, tuple)):
        return ",".join(describe(v) for v in value)
    name = getattr(value, "__qualname__", None) or type(value).__qualname__
    module = getattr(value, "__module__", None) or type(value).__module__
    return f"{module}.{name}" if module not in (None, "builtins") else str(name)


def run_params(settings: Mapping[str, Any]) -> dict[str, str]:
    """Flat text params of a run's settings, for filtering runs in a tracker.

    LMs become their model names (``reflection_lm``; a `PromptProgram` evaluator adds
    ``task_lm``), callables their dotted names; values are cut to 500 characters
    (MLflow's limit). Unset (None) settings are left out.
    """
    params: dict[str, str] = {}
    for key, value in settings.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            mapping: Mapping[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
            for sub, v in mapping.items():
                params[f"{key}.{sub}"] = describe(v)[:500]
            continue
        params[key] = describe(value)[:500]
        task_lm = getattr(value, "task_lm", None) if key == "evaluator" else None
        if task_lm is not None:
            params["task_lm"] = describe(task_lm)[:500]
    return params


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

    def __init__(
        self,
        *,
        log_report: bool = True,
        params: Mapping[str, Any] | None = None,
        ledger: Any = None,
    ) -> None:
        self.log_report = log_report
        self.params = run_params(params or {})
        self.ledger = ledger
        self.used = 0
        self.decisions: Counter[str] = Counter()
        self.opened = False
        self.texts: dict[int, dict[str, str]] = {}

    # -- for subclasses ------------------------------------------------------

    def _open(self, info: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def _log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        raise NotImplementedError

    def _finish(self, result: Result, report: Path | None) -> None:
        raise NotImplementedError

    def _close(self, failed: bool) -> None:
        raise NotImplementedError

    def _log_candidate(self, index: int, texts: Mapping[str, str], val_score: float) -> None:
        """Record a candidate as it joins the pool (so a crashed run keeps them)."""

    def _log_best(self, index: int, texts: Mapping[str, str], score: float) -> None:
        """Record the best candidate so far."""

    # -- events ----------------------------------------------------------------

    def run_started(self, info: Mapping[str, Any]) -> None:
        self._open(info)
        self.opened = True

    def budget_update(self, used: int, limit: int, cache_hits: int) -> None:
        self.used = used

    def candidate_added(self, index: int, candidate: Candidate, val_score: float) -> None:
        self.texts[index] = dict(candidate.components)
        self._log_metrics(
            {"candidate_val_score": val_score, "num_candidates": index + 1}, self.used
        )
        self._log_candidate(index, candidate.components, val_score)

    def new_best(self, index: int, score: float) -> None:
        self._log_metrics({"best_val_score": score, "best_candidate": index}, self.used)
        if index in self.texts:
            self._log_best(index, self.texts[index], score)

    def proposal_finished(self, proposal: Proposal) -> None:
        self.decisions[proposal.decision] += 1
        metrics = {f"proposals_{k}": float(v) for k, v in self.decisions.items()}
        metrics.update(self._cost_metrics())
        self._log_metrics(metrics, self.used)

    def _cost_metrics(self) -> dict[str, float]:
        """Tokens and dollar cost so far, from the run's usage ledger."""
        if self.ledger is None:
            return {}
        total = self.ledger.total()
        metrics = {
            "lm_prompt_tokens": float(total.prompt_tokens),
            "lm_completion_tokens": float(total.completion_tokens),
        }
        if total.cost_usd is not None:
            metrics["cost_usd"] = float(total.cost_usd)
        else:  # some calls had no known price: what is known is a lower bound
            metrics["cost_usd_lower_bound"] = float(total.known_cost_usd)
        return metrics

    def run_finished(self, summary: Mapping[str, Any]) -> None:
        if not self.opened:
            return
        result = summary.get("result")
        final = {"metric_calls_used": float(summary.get("total_metric_calls", self.used))}
        if isinstance(summary.get("best_score"), (int, float)):
            final["final_best_val_score"] = float(summary["best_score"])
        if isinstance(result, Result):
            final.update(usage_metrics(result))
        final.update(self._cost_metrics())
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
