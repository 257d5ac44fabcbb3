"""gepa compatibility: `optimize` with `gepa.optimize`'s signature, for `GEPAAdapter`s.

``import gepakit.gepa as gepa`` in place of ``import gepa`` runs gepa-style code on
gepakit's engine (exact budget, resumable run_dir, evaluation cache). See
`gepakit.integrations.gepa.optimize.optimize` for what differs.
"""

from gepakit.integrations.gepa.adapter import EvaluationBatch
from gepakit.integrations.gepa.default_adapter import TaskLMAdapter, contains_answer
from gepakit.integrations.gepa.optimize import optimize
from gepakit.integrations.gepa.result import GEPAResult
from gepakit.integrations.gepa.state import CALLED_HOOKS, GEPAStateView

__all__ = [
    "CALLED_HOOKS",
    "EvaluationBatch",
    "GEPAResult",
    "GEPAStateView",
    "TaskLMAdapter",
    "contains_answer",
    "optimize",
]
