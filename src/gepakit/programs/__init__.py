"""Ready-made evaluators for common LLM programs.

`PromptProgram` covers the most common case: one optimized system prompt, a user
message built from the example's fields, a task LM, a parser and a metric.
"""

from __future__ import annotations

from gepakit.programs.metrics import (
    Contains,
    ExactMatch,
    JsonField,
    Metric,
    Regex,
    extract_json,
    make_metric,
    normalize_answer,
)
from gepakit.programs.prompt import PromptProgram, TaskLMLike, example_fields

__all__ = [
    "Contains",
    "ExactMatch",
    "JsonField",
    "Metric",
    "PromptProgram",
    "Regex",
    "TaskLMLike",
    "example_fields",
    "extract_json",
    "make_metric",
    "normalize_answer",
]
