"""`from gepakit.dspy import GEPA`: the DSPy integration under a short name.

Needs the `dspy` extra (``pip install 'gepakit[dspy]'``). The implementation lives in
`gepakit.integrations.dspy`; inside gepakit, DSPy itself is always imported absolutely.
"""

from __future__ import annotations

from gepakit.integrations.dspy import (
    GEPA,
    DspyGEPAResult,
    DspyLM,
    MetricSignatureError,
    MultiModalInstructionProposer,
)

__all__ = [
    "GEPA",
    "DspyGEPAResult",
    "DspyLM",
    "MetricSignatureError",
    "MultiModalInstructionProposer",
]
