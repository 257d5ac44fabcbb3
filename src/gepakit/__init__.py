"""gepakit: optimize the text of LLM systems with GEPA (reflective prompt evolution).

Quick start::

    import gepakit
    result = gepakit.optimize({"instruction": "..."}, trainset, valset,
                              evaluator=evaluate, reflection_lm="local",
                              max_metric_calls=300)
    print(result.best_candidate)
"""

from pathlib import Path as _Path
from typing import TYPE_CHECKING as _TYPE_CHECKING

from gepakit.api import optimize
from gepakit.budgets import auto_budget
from gepakit.datasets import load_examples
from gepakit.engine.protocols import EventSink
from gepakit.engine.reflection import ProposerReply, ReflectionRequest
from gepakit.errors import (
    ConfigError,
    EvaluatorError,
    GepakitError,
    LMError,
    MissingExtraError,
    StoreError,
)
from gepakit.evaluation import Evaluation, evaluate
from gepakit.result import Result
from gepakit.types import Candidate, Example, Proposal, Rollout, Score

if _TYPE_CHECKING:  # loaded lazily by __getattr__ below; typed as the module it returns
    from gepakit import metrics as metrics

__version__ = "0.1.0"


def load_run(run_dir: str | _Path) -> Result:
    """Load the `Result` of the run saved in `run_dir`, without any LM or user code.

    Works for finished, stopped and crashed runs; see `gepakit.runs.load_run`.

    Raises:
        StoreError: `run_dir` holds no readable run.
    """
    from gepakit.runs import load_run as _load_run  # late: keeps `import gepakit` light

    return _load_run(run_dir)


def __getattr__(name: str) -> object:
    """`gepakit.metrics` without importing it (and the LM layer) at `import gepakit`."""
    if name == "metrics":
        import importlib

        return importlib.import_module("gepakit.metrics")
    raise AttributeError(f"module 'gepakit' has no attribute {name!r}")


__all__ = [
    "Candidate",
    "ConfigError",
    "Evaluation",
    "EvaluatorError",
    "EventSink",
    "Example",
    "GepakitError",
    "LMError",
    "MissingExtraError",
    "Proposal",
    "ProposerReply",
    "ReflectionRequest",
    "Result",
    "Rollout",
    "Score",
    "StoreError",
    "__version__",
    "auto_budget",
    "evaluate",
    "load_examples",
    "load_run",
    "optimize",
]
