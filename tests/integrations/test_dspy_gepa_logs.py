"""gepakit.dspy.GEPA logs a line per proposal through `logging`, like optimize."""

from __future__ import annotations

import logging
from typing import Any

import pytest

pytest.importorskip("dspy")

import dspy

from gepakit.dspy import GEPA

from .dspy_helpers import RuleLM, TwoStep, capital_examples, careful_rule, feedback_metric

pytestmark = [
    pytest.mark.usefixtures("dspy_isolated"),
    pytest.mark.filterwarnings("ignore:the budget of .* leaves no room:UserWarning"),
]


def test_dspy_gepa_logs_each_proposal(caplog: pytest.LogCaptureFixture) -> None:
    reflection = RuleLM(lambda system, user: "```\nAnswer with the capital. Be careful.\n```")
    gepa = GEPA(feedback_metric, max_metric_calls=30, reflection_lm=reflection, num_threads=1)
    caplog.set_level(logging.INFO, logger="gepakit")
    with dspy.context(lm=RuleLM(careful_rule)):
        gepa.compile(TwoStep(), trainset=capital_examples(), valset=capital_examples())
    lines = [r.getMessage() for r in caplog.records if r.name == "gepakit"]
    assert any(line.startswith("proposal 0 (reflection)") for line in lines)
    assert any("metric calls" in line and "best " in line for line in lines)
    assert lines[-1].startswith("run finished:")


@pytest.mark.parametrize("reuse", [True, False])
def test_dspy_gepa_says_where_it_differs_from_dspy(
    caplog: pytest.LogCaptureFixture, reuse: bool
) -> None:
    """The exact budget, and (when on) evaluation reuse, are announced at the start."""
    reflection = RuleLM(lambda system, user: "```\nAnswer with the capital.\n```")
    kwargs: dict[str, Any] = {} if reuse else {"gepa_kwargs": {"cache_evaluation": False}}
    gepa = GEPA(
        feedback_metric, max_metric_calls=12, reflection_lm=reflection, num_threads=1, **kwargs
    )
    caplog.set_level(logging.INFO, logger="gepakit")
    with dspy.context(lm=RuleLM(careful_rule)):
        gepa.compile(TwoStep(), trainset=capital_examples(), valset=capital_examples())
    start = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("GEPA: "))
    assert "the budget is exact" in start
    assert ("cache_evaluation" in start) is reuse
