"""DSPy integration: `GEPA`, a drop-in replacement for ``dspy.GEPA`` on gepakit's engine.

    from gepakit.dspy import GEPA
    optimized = GEPA(metric=metric, auto="light", reflection_lm=lm).compile(
        program, trainset=train, valset=val
    )

Needs the `dspy` extra: ``pip install 'gepakit[dspy]'``.
"""

from __future__ import annotations

try:
    import dspy as _dspy  # noqa: F401  (absolute: the DSPy package, not gepakit.dspy)
except ImportError as _exc:  # pragma: no cover - exercised without the extra
    from gepakit.errors import MissingExtraError

    raise MissingExtraError("dspy", "dspy") from _exc

from gepakit.integrations.dspy.gepa import GEPA
from gepakit.integrations.dspy.lm import DspyLM
from gepakit.integrations.dspy.metric import MetricSignatureError
from gepakit.integrations.dspy.proposers import MultiModalInstructionProposer, render_examples
from gepakit.integrations.dspy.results import DspyGEPAResult

__all__ = [
    "GEPA",
    "DspyGEPAResult",
    "DspyLM",
    "MetricSignatureError",
    "MultiModalInstructionProposer",
    "render_examples",
]
