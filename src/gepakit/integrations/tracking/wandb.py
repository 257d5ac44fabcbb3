"""`WandbSink`: log a run to Weights & Biases (config, metrics over metric calls, artifacts).

Install with ``pip install 'gepakit[wandb]'``. Offline runs (``mode="offline"`` or
``WANDB_MODE=offline``) need no account and can be synced later with ``wandb sync``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gepakit.errors import MissingExtraError
from gepakit.integrations.tracking._base import (
    CANDIDATE_COLUMNS,
    TrackingSink,
    best_prompt_text,
    candidate_rows,
    log,
)
from gepakit.result import Result

__all__ = ["WandbSink"]

STEP = "metric_calls"


def require_wandb() -> Any:
    try:
        import wandb
    except ImportError as error:
        raise MissingExtraError("wandb", "wandb") from error
    return wandb


class WandbSink(TrackingSink):
    """Log a gepakit run to W&B.

    Attaches to the current W&B run (``wandb.run``) when there is one and leaves it
    open; otherwise calls ``wandb.init(**init_kwargs)`` and finishes the run at the end.
    Metrics use ``metric_calls`` as their x-axis. At the end it logs a ``candidates``
    table, the HTML report (``report`` as `wandb.Html`) and an artifact ``best-prompt``
    with ``best_prompt.txt`` and ``report.html``.

    Args:
        init_kwargs: keyword arguments of ``wandb.init`` (project, entity, name, mode,
            dir, ...) for a new run.
        log_report: log the HTML report.

    Raises:
        MissingExtraError: wandb is not installed (at `run_started`).
    """

    def __init__(
        self,
        *,
        init_kwargs: Mapping[str, Any] | None = None,
        log_report: bool = True,
        params: Mapping[str, Any] | None = None,
        ledger: Any = None,
    ) -> None:
        super().__init__(log_report=log_report, params=params, ledger=ledger)
        self.init_kwargs = dict(init_kwargs or {})
        self.run: Any = None
        self.owns_run = False

    def _open(self, info: Mapping[str, Any]) -> None:
        wandb = require_wandb()
        self.run = wandb.run
        if self.run is None:
            kwargs = {"project": "gepakit", **self.init_kwargs}
            self.run = wandb.init(**kwargs)
            self.owns_run = True
        config = {f"gepakit.{k}": v for k, v in info.items()}
        config.update({f"gepakit.{k}": v for k, v in self.params.items()})
        self.run.config.update(config, allow_val_change=True)
        self.run.define_metric(STEP)
        self.run.define_metric("*", step_metric=STEP)
        log.info("logging to W&B run %s", self.run.id)

    def _log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        if self.run is not None:
            self.run.log({**metrics, STEP: step})

    def _finish(self, result: Result, report: Path | None) -> None:
        wandb = require_wandb()
        run = self.run
        if run is None:
            return
        table = wandb.Table(columns=list(CANDIDATE_COLUMNS), data=candidate_rows(result))
        logged: dict[str, Any] = {"candidates": table}
        artifact = wandb.Artifact("best-prompt", type="prompt")
        with artifact.new_file("best_prompt.txt", encoding="utf-8") as f:
            f.write(best_prompt_text(result))
        if report is not None:
            html = report.read_text(encoding="utf-8")
            logged["report"] = wandb.Html(html, inject=False)
            artifact.add_file(str(report), name="report.html")
        run.log({**logged, STEP: self.used})
        run.summary["best_prompt"] = best_prompt_text(result)
        run.summary["best_val_score"] = result.best_score
        run.log_artifact(artifact)

    def _close(self, failed: bool) -> None:
        if self.owns_run and self.run is not None:
            self.run.finish(exit_code=1 if failed else 0)
            self.owns_run = False
        self.run = None
