"""Experiment trackers as event sinks: `MLflowSink` and `WandbSink`.

Both import their SDK only when a run starts, so this package imports without them.
`gepakit.optimize(use_mlflow=True)` / `use_wandb=True` add them for you.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gepakit.engine.protocols import EventSink
from gepakit.integrations.tracking.mlflow import MLflowSink
from gepakit.integrations.tracking.wandb import WandbSink

__all__ = ["MLflowSink", "WandbSink", "tracking_sinks"]


def tracking_sinks(
    *,
    use_mlflow: bool = False,
    mlflow_tracking_uri: str | None = None,
    mlflow_experiment_name: str | None = None,
    use_wandb: bool = False,
    wandb_init_kwargs: Mapping[str, Any] | None = None,
    register_prompt: str | None = None,
    params: Mapping[str, Any] | None = None,
    ledger: Any = None,
) -> list[EventSink]:
    """The tracker sinks for the `optimize` options of the same names.

    `register_prompt` implies MLflow. `params` (the run's settings) and `ledger` (its
    `UsageLedger`) let the trackers log model names, search settings and cost.

    Raises:
        MissingExtraError: a tracker is requested but its package is not installed.
    """
    sinks: list[EventSink] = []
    if use_mlflow or register_prompt:
        from gepakit.integrations.tracking.mlflow import require_mlflow

        require_mlflow()  # fail before the run starts when the extra is missing
        sinks.append(
            MLflowSink(
                tracking_uri=mlflow_tracking_uri,
                experiment_name=mlflow_experiment_name,
                register_prompt=register_prompt,
                params=params,
                ledger=ledger,
            )
        )
    if use_wandb:
        from gepakit.integrations.tracking.wandb import require_wandb

        require_wandb()
        sinks.append(WandbSink(init_kwargs=wandb_init_kwargs, params=params, ledger=ledger))
    return sinks
