"""`MLflowSink`: log a run to MLflow (params, metrics over metric calls, artifacts).

Install with ``pip install 'gepakit[mlflow]'``.
"""

from __future__ import annotations

import json
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

__all__ = ["MLflowSink"]


def require_mlflow() -> Any:
    try:
        import mlflow
    except ImportError as error:
        raise MissingExtraError("mlflow", "mlflow") from error
    return mlflow


class MLflowSink(TrackingSink):
    """Log a gepakit run to MLflow.

    Attaches to the active MLflow run when there is one (and leaves it open); otherwise
    starts a run and ends it when the optimization ends. Logs the run's settings as
    params (``gepakit.*``: budget, dataset sizes, seed, model names, search settings),
    scores, proposal counts, tokens and ``cost_usd`` as metrics whose step is the number
    of metric calls used. As the run goes, each candidate joining the pool is logged as
    ``candidates/candidate_NNNN.json`` and the best so far as ``best_prompt.txt`` /
    ``best_candidate.json``, so a crashed run keeps them; at the end a candidate table
    (``candidates.json``) and the HTML report (``report.html``).

    Args:
        tracking_uri: MLflow tracking URI (``file:...``, ``sqlite:///...``, a server);
            default MLflow's own (MLFLOW_TRACKING_URI). Ignored when attaching.
        experiment_name: experiment of a new run; default MLflow's active one.
        run_name: name of a new run.
        register_prompt: when set, register the best prompt in MLflow's Prompt
            Registry under this name (one prompt per component, ``name-component``,
            when the candidate has several components).
        log_report: log the HTML report as an artifact.
        params: the run's settings, logged as params (see `run_params`).
        ledger: the run's `UsageLedger`, for tokens and cost as the run goes.

    Raises:
        MissingExtraError: mlflow is not installed (at `run_started`).
    """

    def __init__(
        self,
        *,
        tracking_uri: str | None = None,
        experiment_name: str | None = None,
        run_name: str | None = None,
        register_prompt: str | None = None,
        log_report: bool = True,
        params: Mapping[str, Any] | None = None,
        ledger: Any = None,
    ) -> None:
        super().__init__(log_report=log_report, params=params, ledger=ledger)
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.run_name = run_name
        self.register_prompt = register_prompt
        self.run_id: str | None = None
        self.owns_run = False
        self._client: Any = None

    def _open(self, info: Mapping[str, Any]) -> None:
        mlflow = require_mlflow()
        active = mlflow.active_run()
        if active is None:
            if self.tracking_uri is not None:
                mlflow.set_tracking_uri(self.tracking_uri)
            if self.experiment_name is not None:
                mlflow.set_experiment(self.experiment_name)
            active = mlflow.start_run(run_name=self.run_name)
            self.owns_run = True
        self.run_id = active.info.run_id
        self._client = mlflow.MlflowClient()
        params = {
            f"gepakit.{k}": ",".join(map(str, v)) if isinstance(v, list) else v
            for k, v in info.items()
        }
        params.update({f"gepakit.{k}": v for k, v in self.params.items()})
        from mlflow.entities import Param

        existing = dict(self._client.get_run(self.run_id).data.params)
        batch = [
            Param(key, str(value)[:500])
            for key, value in params.items()
            if existing.get(key) in (None, str(value)[:500])  # MLflow params are immutable
        ]
        self._client.log_batch(self.run_id, params=batch)
        log.info("logging to MLflow run %s", self.run_id)

    def _log_candidate(self, index: int, texts: Mapping[str, str], val_score: float) -> None:
        if self._client is None or self.run_id is None:
            return
        record = {"index": index, "val_score": val_score, "texts": dict(texts)}
        self._client.log_text(
            self.run_id,
            json.dumps(record, indent=2, ensure_ascii=False),
            f"candidates/candidate_{index:04d}.json",
        )

    def _log_best(self, index: int, texts: Mapping[str, str], score: float) -> None:
        if self._client is None or self.run_id is None:
            return
        best = dict(texts)
        text = next(iter(best.values())) if len(best) == 1 else json.dumps(best, indent=2)
        self._client.log_text(self.run_id, text, "best_prompt.txt")
        self._client.log_text(
            self.run_id, json.dumps(best, indent=2, ensure_ascii=False), "best_candidate.json"
        )

    def _log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        if self._client is None or self.run_id is None:
            return
        for key, value in metrics.items():
            self._client.log_metric(self.run_id, key, float(value), step=step)

    def _finish(self, result: Result, report: Path | None) -> None:
        client, run_id = self._client, self.run_id
        if client is None or run_id is None:
            return
        rows = candidate_rows(result)
        table = {col: [row[k] for row in rows] for k, col in enumerate(CANDIDATE_COLUMNS)}
        try:
            client.log_table(run_id, data=table, artifact_file="candidates.json")
        except ImportError:  # log_table needs pandas; mlflow-skinny may lack it
            client.log_text(run_id, json.dumps(table, indent=2), "candidates.json")
        client.log_text(run_id, best_prompt_text(result), "best_prompt.txt")
        client.log_text(
            run_id,
            json.dumps(result.best_candidate, indent=2, ensure_ascii=False),
            "best_candidate.json",
        )
        if report is not None:
            client.log_artifact(run_id, str(report))
        if self.register_prompt:
            self._register(result)

    def _register(self, result: Result) -> None:
        mlflow = require_mlflow()
        register: Any = getattr(getattr(mlflow, "genai", None), "register_prompt", None)
        register = register or getattr(mlflow, "register_prompt", None)
        if register is None:
            log.warning("this MLflow has no Prompt Registry (needs mlflow>=2.21); not registered")
            return
        best = result.best_candidate
        tags = {"gepakit_mlflow_run_id": str(self.run_id), "val_score": f"{result.best_score}"}
        for component, text in best.items():
            name = self.register_prompt if len(best) == 1 else f"{self.register_prompt}-{component}"
            version = register(
                name=name,
                template=text,
                commit_message=f"gepakit best candidate #{result.best_idx}",
                tags=tags,
            )
            log.info("registered prompt %s version %s", name, getattr(version, "version", "?"))

    def _close(self, failed: bool) -> None:
        if self.owns_run:
            require_mlflow().end_run(status="FAILED" if failed else "FINISHED")
            self.owns_run = False
