"""gepakit.dspy.GEPA on the embedded local model through a dspy.LM on its HTTP endpoint."""

from __future__ import annotations

from typing import Any

import dspy
import pytest

from gepakit.dspy import GEPA

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.slow,
    pytest.mark.usefixtures("dspy_isolated"),
    pytest.mark.filterwarnings("ignore:the budget of .* leaves no room:UserWarning"),
]


@pytest.fixture(scope="module")
def endpoint() -> tuple[str, str]:
    from gepakit.local.runtime import local_lm

    lm = local_lm()
    try:
        return lm.base_url, lm.spec.name
    except Exception as exc:  # weights or xllamacpp missing on this machine
        pytest.skip(f"local model not installed: {exc}")


class Pipeline(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.extract = dspy.Predict("sentence -> city")
        self.locate = dspy.Predict("sentence, city -> country")

    def forward(self, sentence: str) -> dspy.Prediction:
        city = self.extract(sentence=sentence).city
        return self.locate(sentence=sentence, city=city)


def metric(gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None):
    got = str(pred.get("country") or "").strip().lower()
    ok = gold.country.lower() in got
    return dspy.Prediction(
        score=float(ok), feedback=f"expected {gold.country}, got {got!r} ({pred_name or 'program'})"
    )


def test_two_predictor_program_on_local_model(endpoint: tuple[str, str]) -> None:
    base_url, model = endpoint
    task = dspy.LM(
        f"openai/{model}",
        api_base=base_url,
        api_key="local",
        temperature=0.0,
        max_tokens=64,
        cache=False,
    )
    reflection = dspy.LM(
        f"openai/{model}",
        api_base=base_url,
        api_key="local",
        temperature=0.0,
        max_tokens=200,
        cache=False,
    )
    data = [
        dspy.Example(sentence="I flew to Lyon last week.", country="France"),
        dspy.Example(sentence="We met in Osaka.", country="Japan"),
    ]
    data = [d.with_inputs("sentence") for d in data]
    gepa = GEPA(
        metric,
        max_metric_calls=8,
        reflection_lm=reflection,
        reflection_minibatch_size=2,
        num_threads=2,
        track_stats=True,
        skip_perfect_score=False,
        use_merge=False,
    )
    with dspy.context(lm=task):
        program = gepa.compile(Pipeline(), trainset=data, valset=data)
        details: Any = program.detailed_results
        assert details.total_metric_calls <= 8
        assert set(details.val_subscores[0]) == {0, 1}
        task_usage = details.usage["roles"]["task"]
        assert task_usage["calls"] >= 4 and task_usage["prompt_tokens"] > 0
        assert task_usage["cost_usd"] == 0.0  # a loopback endpoint is local: free
        assert details.cost_usd == 0.0
        assert "reflection" in details.usage["roles"]  # one proposal fits in the budget
        assert program(sentence="She lives in Madrid.").country
