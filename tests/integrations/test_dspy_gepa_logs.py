"""gepakit.dspy.GEPA logs a line per proposal through `logging`, like optimize."""

from __future__ import annotations

import logging

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
