"""gepakit: optimize the text of LLM systems with GEPA (reflective prompt evolution).

Quick start::

    import gepakit
    result = gepakit.optimize({"instruction": "..."}, trainset, valset,
                              evaluator=evaluate, reflection_lm="local",
                              max_metric_calls=300)
    print(result.best_candidate)
"""

from gepakit.api import optimize
from gepakit.budgets import auto_budget
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
from gepakit.result import Result
from gepakit.types import Candidate, Example, Proposal, Rollout, Score

__version__ = "0.1.0"

__all__ = [
    "Candidate",
    "ConfigError",
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
    "optimize",
]
