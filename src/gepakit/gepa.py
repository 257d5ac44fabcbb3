"""Drop-in for the `gepa` package's `optimize`: ``import gepakit.gepa as gepa``.

See `gepakit.integrations.gepa`.
"""

from gepakit.integrations.gepa import (
    CALLED_HOOKS,
    EvaluationBatch,
    GEPAResult,
    GEPAStateView,
    TaskLMAdapter,
    contains_answer,
    optimize,
)

__all__ = [
    "CALLED_HOOKS",
    "EvaluationBatch",
    "GEPAResult",
    "GEPAStateView",
    "TaskLMAdapter",
    "contains_answer",
    "optimize",
]
