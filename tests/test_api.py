"""`gepakit.optimize`: input validation before any LM call, options, public exports."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from typing import Any

import pytest

import gepakit
from gepakit import ConfigError, optimize
from gepakit.budgets import auto_budget
from gepakit.testing import ScriptedLM, ToyTask

TASK = ToyTask()


def run(lm: ScriptedLM, **overrides: Any) -> gepakit.Result:
    args: dict[str, Any] = {
        "seed_candidate": TASK.seed_candidate,
        "trainset": TASK.trainset,
        "valset": TASK.valset,
        "evaluator": TASK.score,
        "reflection_lm": lm,
        "max_metric_calls": 50,
    }
    args.update(overrides)
    return optimize(**args)


BAD_INPUTS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("empty trainset", {"trainset": []}, ConfigError, "trainset is empty"),
    ("empty valset", {"valset": []}, ConfigError, "valset is empty"),
    ("trainset not a list", {"trainset": "abc"}, ConfigError, "must be a list"),
    ("empty seed", {"seed_candidate": {}}, ConfigError, "non-empty dict"),
    ("seed not a dict", {"seed_candidate": "text"}, ConfigError, "non-empty dict"),
    ("non-string text", {"seed_candidate": {"p": 3}}, TypeError, "string text"),
    ("non-string name", {"seed_candidate": {1: "x"}}, TypeError, "string name"),
    (
        "duplicate ids",
        {"trainset": [{"id": "a"}, {"id": "b"}, {"id": "a"}]},
        ConfigError,
        "duplicate example ids",
    ),
    ("duplicate contents", {"valset": [{"x": 1}, {"x": 1}]}, ConfigError, "duplicate"),
    ("budget zero", {"max_metric_calls": 0}, ConfigError, "positive integer"),
    ("no budget", {"max_metric_calls": None}, ConfigError, "exactly one budget"),
    ("two budgets", {"auto": "light"}, ConfigError, "exactly one budget"),
    (
        "three budgets",
        {"auto": "light", "max_full_evals": 2},
        ConfigError,
        "exactly one budget",
    ),
    ("budget below valset", {"max_metric_calls": 5}, ConfigError, "at least 6"),
    ("minibatch zero", {"reflection_minibatch_size": 0}, ConfigError, "minibatch"),
    ("bad selector", {"candidate_selection_strategy": "best"}, ConfigError, "one of"),
    ("bad component selector", {"component_selector": "random"}, ConfigError, "one of"),
    ("bad acceptance", {"acceptance": "always"}, ConfigError, "acceptance"),
    ("bad workers", {"workers": 0}, ConfigError, "workers"),
    ("bad proposals", {"max_concurrent_proposals": 0}, ConfigError, "max_concurrent"),
    ("bad timeout", {"timeout": 0}, ConfigError, "timeout"),
    ("bad patience", {"stop_after_no_improvement": 0}, ConfigError, "no_improvement"),
    ("bad executor", {"executor": "process"}, ConfigError, "executor"),
    ("no reflection lm", {"reflection_lm": None}, ConfigError, "reflection_lm is required"),
    ("bad reflection lm", {"reflection_lm": 42}, ConfigError, "reflection_lm must be"),
    ("bad proposer", {"instruction_proposer": 42}, ConfigError, "instruction_proposer"),
]


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_fails_before_any_lm_call(
    overrides: dict[str, Any], error: type[Exception], match: str
) -> None:
    lm = ScriptedLM(lambda prompt: "never")
    calls_before = TASK.calls
    if "reflection_lm" in overrides:
        lm_arg = overrides.pop("reflection_lm")
        with pytest.raises(error, match=match):
            run(lm, reflection_lm=lm_arg, **overrides)
    else:
        with pytest.raises(error, match=match):
            run(lm, **overrides)
    assert lm.calls == 0
    assert TASK.calls == calls_before


def test_no_valset_warns_and_uses_the_trainset() -> None:
    task = ToyTask(train_size=4)
    lm = ScriptedLM(task.reflect)
    with pytest.warns(UserWarning, match="no valset given"):
        result = optimize(
            task.seed_candidate,
            task.trainset,
            evaluator=task.evaluate,
            reflection_lm=lm,
            max_metric_calls=40,
        )
    assert set(result.val_subscores[0]) == {ex["id"] for ex in task.trainset}


def test_auto_budget_without_valset_counts_the_trainset_as_valset() -> None:
    # The valset defaults to the trainset, so its full evaluations are part of the budget.
    task = ToyTask(train_size=5)
    with pytest.warns(UserWarning, match="no valset given"):
        result = optimize(
            task.seed_candidate,
            task.trainset,
            evaluator=task.evaluate,
            reflection_lm=task.reflect,
            auto="light",
            score_threshold=1.0,
        )
    assert result.max_metric_calls == auto_budget("light", num_components=1, valset_size=5)


def test_max_full_evals_sets_the_limit() -> None:
    result = run(ScriptedLM(TASK.reflect), max_metric_calls=None, max_full_evals=2)
    assert result.max_metric_calls == 2 * (len(TASK.trainset) + len(TASK.valset))


def test_a_budget_with_no_room_for_a_proposal_warns() -> None:
    lm = ScriptedLM(TASK.reflect)
    with pytest.warns(UserWarning, match="leaves no room for a proposal"):
        result = run(lm, max_metric_calls=6)
    assert result.total_metric_calls == 6
    assert result.num_candidates == 1
    assert "budget exhausted" in result.stop_reason
    assert lm.calls == 0


def test_scripted_lm_object_as_reflection_lm() -> None:
    lm = ScriptedLM(TASK.reflect)
    result = run(lm, max_metric_calls=60)
    assert lm.calls >= 1
    assert result.best_score > result.val_aggregate_scores[0]
    assert result.usage["roles"]["reflection"]["calls"] == lm.calls


def test_public_names_are_in_sync_with_all() -> None:
    # Submodules become attributes once imported anywhere; they are not exports.
    public = {
        name
        for name, value in vars(gepakit).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    exported = set(gepakit.__all__) - {"__version__"}
    assert public == exported
    assert len(gepakit.__all__) == len(set(gepakit.__all__))
    assert gepakit.__all__ == sorted(gepakit.__all__)
    for name in gepakit.__all__:
        assert getattr(gepakit, name) is not None


def test_importing_the_engine_stays_light() -> None:
    code = textwrap.dedent(
        """
        import sys
        import gepakit.engine.loop, gepakit.engine.steps, gepakit.engine.reflection
        import gepakit.engine.pareto, gepakit.engine.selection, gepakit.engine.merge
        heavy = ["openai", "sqlite3", "rich", "ray", "dspy", "litellm", "httpx", "typer"]
        print(",".join(m for m in heavy if m in sys.modules))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


def test_an_evaluator_failing_on_every_seed_example_stops_before_any_reflection() -> None:
    calls: list[str] = []

    def broken(candidate: dict[str, str], example: Any) -> float:
        raise RuntimeError("no such column")

    data = [{"id": f"e{i}"} for i in range(4)]
    with pytest.raises(gepakit.EvaluatorError, match=r"every val example.*no such column"):
        gepakit.optimize(
            {"p": "x"}, data, data, evaluator=broken,
            reflection_lm=lambda prompt: calls.append(prompt) or "```\ny\n```",
            max_metric_calls=40,
        )  # fmt: skip
    assert calls == []


def test_a_failing_reflection_lm_stops_the_run_with_a_clear_reason() -> None:
    def down(prompt: str) -> str:
        raise TimeoutError("reflection LM timed out")

    data = [{"id": f"e{i}", "v": i} for i in range(4)]
    result = gepakit.optimize(
        {"p": "x"}, data, data, evaluator=lambda c, e: 0.5, reflection_lm=down,
        max_metric_calls=200,
    )  # fmt: skip
    assert "failed 5 times in a row" in result.stop_reason
    assert [p.decision for p in result.proposals] == ["failed"] * 5
