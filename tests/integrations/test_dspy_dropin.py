"""Regression tests of issue 12's DSPy gaps: code written for dspy.GEPA runs unchanged."""

from __future__ import annotations

import inspect
import logging
import re
from typing import Any

import dspy
import numpy as np
import pytest
from dspy.utils.callback import BaseCallback
from dspy.utils.dummies import DummyLM

from gepakit.dspy import GEPA
from gepakit.errors import ConfigError
from gepakit.integrations.dspy.gepa import dspy_auto_budget
from gepakit.integrations.dspy.metric import coerce_metric

from .dspy_helpers import RuleLM, TwoStep, capital_examples, careful_rule, feedback_metric
from .test_dspy_gepa import Recorder, instructions_of, run

pytestmark = [
    pytest.mark.usefixtures("dspy_isolated"),
    pytest.mark.filterwarnings(
        "ignore:no valset given:UserWarning",
        "ignore:the budget of .* leaves no room:UserWarning",
    ),
]


def bool_metric(
    gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None
) -> Any:
    """How DSPy's own tests write a GEPA metric: the score is a bool."""
    return dspy.Prediction(score=gold.answer == pred.answer, feedback=f"expected {gold.answer}")


# -- gap 1: bool scores -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "score"),
    [
        (True, 1.0),
        (False, 0.0),
        (np.bool_(True), 1.0),
        (np.float32(0.25), 0.25),
        (dspy.Prediction(score=False, feedback="no"), 0.0),
        (dspy.Prediction(score=np.bool_(True), feedback="yes"), 1.0),
        ({"score": np.int64(1)}, 1.0),
    ],
)
def test_bool_and_numpy_scores_are_numbers(value: Any, score: float) -> None:
    assert coerce_metric(value).score == score


def test_objective_scores_accept_bools() -> None:
    value = coerce_metric(dspy.Prediction(score=0.5, objective_scores={"ok": np.bool_(True)}))
    assert value.objectives == {"ok": 1.0}


def test_a_metric_returning_bools_optimizes() -> None:
    gepa = GEPA(bool_metric, max_metric_calls=20, instruction_proposer=Recorder(), num_threads=1)
    gepa.track_stats = True
    program = run(gepa, RuleLM(careful_rule), valset=capital_examples())
    assert program.detailed_results.val_aggregate_scores[0] == 0.0
    assert max(program.detailed_results.val_aggregate_scores) == 1.0
    assert instructions_of(program.answer).endswith("Be careful.")


# -- gap 2: predictors with their own LM ---------------------------------------------------


def test_predictors_with_set_lm_need_no_configured_lm() -> None:
    task = RuleLM(careful_rule)
    student = TwoStep()
    student.set_lm(task)
    assert dspy.settings.lm is None
    gepa = GEPA(feedback_metric, max_metric_calls=20, instruction_proposer=Recorder())
    program: Any = gepa.compile(student, trainset=capital_examples(), valset=capital_examples())
    assert gepa.result is not None and max(gepa.result.val_aggregate_scores) == 1.0
    assert instructions_of(program.answer).endswith("Be careful.")
    assert isinstance(program.answer.lm, RuleLM)  # the copy keeps the predictor's LM


def test_a_predictor_without_any_lm_is_named() -> None:
    student = TwoStep()
    student.draft.set_lm(RuleLM(careful_rule))
    gepa = GEPA(feedback_metric, max_metric_calls=20, instruction_proposer=Recorder())
    with pytest.raises(ConfigError, match=r"no task LM for predictor\(s\) answer"):
        gepa.compile(student, trainset=capital_examples())


# -- gap 3: gepa_kwargs and gepakit's stop options -------------------------------------------


def test_use_cloudpickle_is_accepted_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "gepakit.dspy"):
        GEPA(
            feedback_metric,
            max_metric_calls=10,
            reflection_lm=DummyLM([]),
            gepa_kwargs={"use_cloudpickle": True, "logger": None},
        )
    assert caplog.text.count("use_cloudpickle") == 1 and "never pickles" in caplog.text


def test_max_reflection_cost_none_is_fine_and_a_value_is_checked() -> None:
    GEPA(
        feedback_metric,
        max_metric_calls=1,
        reflection_lm=DummyLM([]),
        gepa_kwargs={"max_reflection_cost": None},
    )
    accepted = set(inspect.signature(__import__("gepakit").optimize).parameters)
    if {"max_cost_usd", "max_reflection_cost"} & accepted:
        GEPA(
            feedback_metric,
            max_metric_calls=1,
            reflection_lm=DummyLM([]),
            gepa_kwargs={"max_reflection_cost": 1.0},
        )
    else:
        with pytest.raises(ValueError, match="max_reflection_cost"):
            GEPA(
                feedback_metric,
                max_metric_calls=1,
                reflection_lm=DummyLM([]),
                gepa_kwargs={"max_reflection_cost": 1.0},
            )


def test_reflection_prompt_template_in_gepa_kwargs_raises_as_in_dspy() -> None:
    with pytest.raises(ValueError, match="reflection_prompt_template"):
        GEPA(
            feedback_metric,
            max_metric_calls=1,
            reflection_lm=DummyLM([]),
            gepa_kwargs={"reflection_prompt_template": "<curr_param> <side_info>"},
        )


def test_gepa_defaults_in_gepa_kwargs_are_accepted() -> None:
    gepa = GEPA(
        feedback_metric,
        max_metric_calls=10,
        reflection_lm=DummyLM([]),
        gepa_kwargs={
            "frontier_type": "instance",
            "val_evaluation_policy": "full_eval",
            "batch_sampler": "epoch_shuffled",
            "merge_val_overlap_floor": 5,
            "sampling_strategy": None,
            "selection_strategy": None,
            "acceptance_criterion": "improvement_or_equal",
            "wandb_attach_existing": False,
            "mlflow_attach_existing": False,
            "tracking_key_prefix": "",
            "display_progress_bar": False,
            "cache_evaluation": True,
        },
    )
    assert gepa.acceptance == "improvement_or_equal"
    assert gepa.translated.options.get("progress") is False


@pytest.mark.parametrize("cache", [True, False])
def test_cache_evaluation_in_gepa_kwargs_is_reuse_evaluations(cache: bool) -> None:
    gepa = GEPA(
        feedback_metric,
        max_metric_calls=40,
        instruction_proposer=Recorder(),
        eval_repeats=2,
        track_stats=True,
        gepa_kwargs={"cache_evaluation": cache},
    )
    assert gepa.translated.options["reuse_evaluations"] is cache
    train = capital_examples()
    program: Any = run(gepa, RuleLM(careful_rule), trainset=train, valset=train)
    result = program.detailed_results
    assert result.total_metric_calls <= 40
    assert len(result.val_subscores[0]) == len(train)  # 2 draws each, one mean per example
    assert (result.gepakit_result.cache_hits > 0) is cache


def test_an_auto_budget_with_eval_repeats_allows_that_many_times_the_calls() -> None:
    plain = GEPA(feedback_metric, auto="light", reflection_lm=DummyLM([]))
    repeated = GEPA(feedback_metric, auto="light", reflection_lm=DummyLM([]), eval_repeats=3)
    sizes = {"num_predictors": 2, "train_size": 10, "val_size": 5}
    assert repeated.budget(**sizes) == 3 * plain.budget(**sizes)


def test_use_mlflow_in_gepa_kwargs_as_dspys_docs_list_it() -> None:
    pytest.importorskip("mlflow")
    gepa = GEPA(
        feedback_metric,
        max_metric_calls=10,
        reflection_lm=DummyLM([]),
        gepa_kwargs={"use_mlflow": True, "mlflow_experiment_name": "exp"},
    )
    assert gepa.use_mlflow is True
    assert gepa.translated.options == {"mlflow_experiment_name": "exp"}


def test_gepa_stoppers_in_gepa_kwargs_stop_the_run() -> None:
    from gepa.utils.stop_condition import MaxMetricCallsStopper, NoImprovementStopper

    gepa = GEPA(
        feedback_metric,
        max_metric_calls=200,
        instruction_proposer=Recorder(" Think."),  # never helps
        num_threads=1,
        use_merge=False,
        gepa_kwargs={"stop_callbacks": [NoImprovementStopper(2), MaxMetricCallsStopper(150)]},
    )
    run(gepa, RuleLM(careful_rule), valset=capital_examples())
    assert gepa.result is not None
    assert gepa.result.total_metric_calls < 150
    assert len(gepa.result.proposals) == 2
    assert "stop callback" in gepa.result.stop_reason


def test_a_custom_gepa_stopper_reads_the_gepa_state() -> None:
    seen: list[tuple[int, int]] = []

    def stop_after_three_candidates(state: Any) -> bool:
        seen.append((len(state.program_candidates), state.total_num_evals))
        return len(state.program_candidates) >= 3

    gepa = GEPA(
        bool_metric,
        max_metric_calls=300,
        instruction_proposer=Recorder(),
        num_threads=1,
        use_merge=False,
        skip_perfect_score=False,
        acceptance="improvement_or_equal",
        gepa_kwargs={"stop_callbacks": stop_after_three_candidates},
    )
    run(gepa, RuleLM(careful_rule), valset=capital_examples())
    assert gepa.result is not None and len(gepa.result.candidates) == 3
    assert seen[0] == (1, 3) and seen[-1][0] == 3
    assert gepa.result.total_metric_calls < 300


class _GepaEvents:
    """A gepa GEPACallback (duck-typed, as gepa calls them)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def on_optimization_start(self, event: Any) -> None:
        self.names.append("start")

    def on_candidate_accepted(self, event: Any) -> None:
        self.names.append(f"accepted:{event['new_candidate_idx']}")

    def on_optimization_end(self, event: Any) -> None:
        self.names.append("end")


def test_gepa_callbacks_in_gepa_kwargs_fire() -> None:
    events = _GepaEvents()
    gepa = GEPA(
        feedback_metric,
        max_metric_calls=20,
        instruction_proposer=Recorder(),
        gepa_kwargs={"callbacks": [events]},
    )
    run(gepa, RuleLM(careful_rule), valset=capital_examples())
    assert events.names[0] == "start" and "accepted:1" in events.names


def test_gepakit_stop_options_are_on_the_class() -> None:
    gepa = GEPA(
        feedback_metric,
        max_metric_calls=200,
        instruction_proposer=Recorder(),
        num_threads=1,
        use_merge=False,
        score_threshold=1.0,
        stop_after_no_improvement=5,
        timeout=600,
        max_concurrent_proposals=1,
    )
    run(gepa, RuleLM(careful_rule), valset=capital_examples())
    assert gepa.result is not None
    assert "threshold" in gepa.result.stop_reason
    assert gepa.result.total_metric_calls < 200


def test_unknown_keyword_is_a_type_error_listing_gepakits_options() -> None:
    with pytest.raises(TypeError, match="merge_subsample_size"):
        GEPA(feedback_metric, max_metric_calls=10, reflection_lm=DummyLM([]), no_such=1)
    gepa = GEPA(
        feedback_metric, max_metric_calls=10, reflection_lm=DummyLM([]), merge_subsample_size=3
    )
    assert gepa.options == {"merge_subsample_size": 3}


# -- gap 4: gepa's component selector protocol --------------------------------------------


def test_alternating_half_selector_from_dspys_docs_reads_state_i() -> None:
    seen: list[tuple[int, list[str]]] = []

    def alternating_half_selector(
        state: Any, trajectories: Any, subsample_scores: Any, candidate_idx: int, candidate: Any
    ) -> list[str]:
        components = list(candidate.keys())
        mid = len(components) // 2
        chosen = components[:mid] if state.i % 2 == 0 else components[mid:]
        seen.append((state.i, chosen))
        assert len(trajectories) == len(subsample_scores) == 3
        return chosen

    gepa = GEPA(
        feedback_metric,
        max_metric_calls=30,
        instruction_proposer=Recorder(" Think."),
        component_selector=alternating_half_selector,
        num_threads=1,
        use_merge=False,
    )
    run(gepa, RuleLM(careful_rule), valset=capital_examples())
    assert [i for i, _ in seen] == list(range(len(seen))) and len(seen) >= 2
    assert all(chosen == (["draft"] if i % 2 == 0 else ["answer"]) for i, chosen in seen)


@pytest.mark.parametrize(
    "kind", ["RoundRobinReflectionComponentSelector", "AllReflectionComponentSelector"]
)
def test_gepas_selector_objects_work(kind: str) -> None:
    from gepa.strategies import component_selector

    proposer = Recorder(" Think.")
    gepa = GEPA(
        feedback_metric,
        max_metric_calls=30,
        instruction_proposer=proposer,
        component_selector=getattr(component_selector, kind)(),
        num_threads=1,
        use_merge=False,
    )
    run(gepa, RuleLM(careful_rule), valset=capital_examples())
    picked = [call["components"] for call in proposer.calls]
    if kind.startswith("All"):
        assert picked[0] == ["draft", "answer"]
    else:
        assert picked[:2] == [["draft"], ["answer"]]


# -- gap 5: a Teleprompter ----------------------------------------------------------------


class _CompileEvents(BaseCallback):
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_compile_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self.events.append(f"start:{type(instance).__name__}")

    def on_compile_end(
        self, call_id: str, outputs: Any, exception: Exception | None = None
    ) -> None:
        self.events.append("end")


def test_it_is_a_teleprompter_with_dspys_methods() -> None:
    from dspy.teleprompt import BetterTogether, Teleprompter

    gepa = GEPA(feedback_metric, auto="light", reflection_lm=DummyLM([]))
    assert isinstance(gepa, Teleprompter)
    BetterTogether(metric=feedback_metric, p=gepa)  # refuses non-Teleprompters
    assert gepa.get_params()["auto"] == "light"
    reflection: Any = DummyLM([])
    theirs = dspy.GEPA(feedback_metric, auto="light", reflection_lm=reflection)
    for args in [(1, 6, 10), (3, 12, 50), (2, 7, 0), (4, 18, 300, 20, 3)]:
        assert gepa.auto_budget(*args) == theirs.auto_budget(*args)


def test_auto_budget_formula_matches_gepakits_levels() -> None:
    from gepakit.budgets import AUTO_RUNS, auto_budget

    for level, n in AUTO_RUNS.items():
        for preds, size in [(1, 10), (3, 40)]:
            expected = auto_budget(level, num_components=preds, valset_size=size)
            assert dspy_auto_budget(preds, n, size) == expected


def test_dspy_callbacks_see_compile_start_and_end() -> None:
    events = _CompileEvents()
    gepa = GEPA(feedback_metric, max_metric_calls=12, instruction_proposer=Recorder())
    with dspy.context(callbacks=[events]):
        run(gepa, RuleLM(careful_rule), valset=capital_examples())
    assert events.events == ["start:GEPA", "end"]


# -- gap 6: multi-objective results ---------------------------------------------------------


def objective_metric(
    gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None
) -> Any:
    correct = float(gold.answer == pred.answer)
    return dspy.Prediction(
        score=(correct + 1.0) / 2,
        objective_scores={"correctness": correct, "incorrectness": 1.0 - correct},
        feedback=f"expected {gold.answer}",
    )


def test_objective_fields_are_filled_from_objective_scores() -> None:
    gepa = GEPA(
        objective_metric,
        max_metric_calls=30,
        instruction_proposer=Recorder(),
        num_threads=1,
        use_merge=False,
        track_stats=True,
    )
    result = run(gepa, RuleLM(careful_rule), valset=capital_examples()).detailed_results
    assert result.val_aggregate_subscores[0] == {"correctness": 0.0, "incorrectness": 1.0}
    best = result.best_idx
    assert result.val_aggregate_subscores[best] == {"correctness": 1.0, "incorrectness": 0.0}
    assert result.objective_pareto_front == {"correctness": 1.0, "incorrectness": 1.0}
    assert 0 in result.per_objective_best_candidates["incorrectness"]
    assert result.per_objective_best_candidates["correctness"] == {
        i for i, s in enumerate(result.val_aggregate_subscores) if s["correctness"] == 1.0
    }
    assert result.to_dict()["per_objective_best_candidates"]["incorrectness"][0] == 0


def test_without_objective_scores_the_fields_stay_none() -> None:
    gepa = GEPA(feedback_metric, max_metric_calls=12, instruction_proposer=Recorder())
    gepa.track_stats = True
    result = run(gepa, RuleLM(careful_rule), valset=capital_examples()).detailed_results
    assert result.val_aggregate_subscores is None
    assert result.objective_pareto_front is None


def test_frontier_type_is_passed_on_or_refused_clearly() -> None:
    accepted = set(inspect.signature(__import__("gepakit").optimize).parameters)
    kwargs: dict[str, Any] = {"gepa_kwargs": {"frontier_type": "objective"}}
    if "frontier_type" in accepted:
        gepa = GEPA(feedback_metric, max_metric_calls=10, reflection_lm=DummyLM([]), **kwargs)
        assert gepa.translated.options["frontier_type"] == "objective"
    else:
        with pytest.raises(ConfigError, match="frontier_type"):
            GEPA(feedback_metric, max_metric_calls=10, reflection_lm=DummyLM([]), **kwargs)


# -- gap 7: dspy.History inputs ------------------------------------------------------------


class Chat(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.reply = dspy.Predict("history: dspy.History, question -> answer")

    def forward(self, question: str) -> dspy.Prediction:
        history = dspy.History(messages=[{"question": "Hi", "answer": "Hello"}])
        return self.reply(history=history, question=question)


def chat_rule(system: str, user: str) -> dict[str, str]:
    return {"answer": "Paris" if "Be careful" in system else "Springfield"}


def test_history_reaches_a_custom_proposer_as_context_text() -> None:
    proposer = Recorder()
    gepa = GEPA(feedback_metric, max_metric_calls=12, instruction_proposer=proposer)
    with dspy.context(lm=RuleLM(chat_rule)):
        gepa.compile(Chat(), trainset=capital_examples(), valset=capital_examples())
    record = proposer.calls[0]["dataset"]["reply"][0]
    assert list(record) == ["Inputs", "Generated Outputs", "Feedback"]
    assert list(record["Inputs"]) == ["Context", "question"]
    context = record["Inputs"]["Context"]
    assert isinstance(context, str) and context.startswith("```json\n  0: {")
    assert "'answer': 'Hello'" in context
    assert record["Generated Outputs"] == {"answer": "Springfield"}


def test_history_reaches_dspys_instruction_proposer_as_a_history() -> None:
    from dspy.teleprompt.gepa import InstructionProposer as _InstructionProposer

    InstructionProposer: Any = _InstructionProposer  # @experimental hides the class from pyright
    seen: list[Any] = []

    class Spy(InstructionProposer):
        def __call__(
            self, candidate: Any, reflective_dataset: Any, components_to_update: Any
        ) -> Any:
            seen.append(reflective_dataset["reply"][0]["Inputs"]["Context"])
            return {c: candidate[c] + " Be careful." for c in components_to_update}

    gepa = GEPA(
        feedback_metric,
        max_metric_calls=12,
        instruction_proposer=Spy(truncate_history_outputs=True),
    )
    with dspy.context(lm=RuleLM(chat_rule)):
        gepa.compile(Chat(), trainset=capital_examples(), valset=capital_examples())
    assert isinstance(seen[0], dspy.History)


# -- gap 8: the smaller ones ---------------------------------------------------------------


def test_reflection_minibatch_size_none_means_three() -> None:
    proposer = Recorder()
    gepa = GEPA(
        feedback_metric,
        max_metric_calls=30,
        instruction_proposer=proposer,
        reflection_minibatch_size=None,
    )
    train = capital_examples(("France", "Japan", "Peru", "Chile"))
    run(gepa, RuleLM(careful_rule), trainset=train, valset=capital_examples())
    assert len(next(iter(proposer.calls[0]["dataset"].values()))) == 3


def test_top_k_pareto_is_passed_on_or_refused_clearly() -> None:
    from gepakit.integrations.dspy.gepa import _candidate_names

    if "top_k_pareto" in _candidate_names():
        gepa = GEPA(
            feedback_metric,
            max_metric_calls=10,
            reflection_lm=DummyLM([]),
            candidate_selection_strategy="top_k_pareto",
        )
        assert gepa.candidate_selection_strategy == "top_k_pareto"
    else:
        with pytest.raises(ConfigError, match=r"top_k_pareto.*not available"):
            GEPA(
                feedback_metric,
                max_metric_calls=10,
                reflection_lm=DummyLM([]),
                candidate_selection_strategy="top_k_pareto",
            )


class Backwards(dspy.Module):
    """Predictors whose program order is not alphabetical (like dspy.ReAct's)."""

    def __init__(self) -> None:
        super().__init__()
        self.react = dspy.Predict("question -> draft")
        self.extract = dspy.Predict("question, draft -> answer")

    def forward(self, question: str) -> dspy.Prediction:
        draft = self.react(question=question).draft
        return self.extract(question=question, draft=draft)


def test_round_robin_goes_in_program_order() -> None:
    proposer = Recorder(" Think.")
    gepa = GEPA(
        feedback_metric, max_metric_calls=30, instruction_proposer=proposer, use_merge=False
    )
    with dspy.context(lm=RuleLM(careful_rule)):
        gepa.compile(Backwards(), trainset=capital_examples(), valset=capital_examples())
    assert [c["components"] for c in proposer.calls[:2]] == [["react"], ["extract"]]


class AlwaysFails(TwoStep):
    def forward(self, question: str) -> dspy.Prediction:
        raise RuntimeError("backend down")


def test_a_seed_that_fails_on_every_val_example_continues_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gepa = GEPA(feedback_metric, max_metric_calls=12, instruction_proposer=Recorder())
    with caplog.at_level(logging.WARNING, "gepakit.dspy"), dspy.context(lm=RuleLM(careful_rule)):
        program = gepa.compile(
            AlwaysFails(), trainset=capital_examples(), valset=capital_examples()
        )
    assert isinstance(program, AlwaysFails)
    assert caplog.text.count("backend down") == 1
    assert gepa.result is not None and gepa.result.val_aggregate_scores == (0.0,)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_threads": 0}, "num_threads"),
        ({"timeout": -1}, "timeout"),
        ({"acceptance": "strictly_better"}, "acceptance"),
        ({"merge_subsample_size": 0}, "merge_subsample_size"),
    ],
)
def test_gepakit_options_are_checked_by_its_option_table_at_construction(
    kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        GEPA(feedback_metric, max_metric_calls=10, reflection_lm=DummyLM([]), **kwargs)


def test_a_log_dir_written_by_dspy_gepa_is_refused_before_any_call(tmp_path: Any) -> None:
    (tmp_path / "gepa_state.bin").write_bytes(b"pickled state")
    task = RuleLM(careful_rule)
    gepa = GEPA(
        feedback_metric, max_metric_calls=12, instruction_proposer=Recorder(), log_dir=str(tmp_path)
    )
    with pytest.raises(ConfigError, match="written by the gepa package"):
        run(gepa, task, valset=capital_examples())
    assert task.calls == 0


def test_every_gepa_optimize_keyword_has_an_answer() -> None:
    from gepa import api as gepa_api

    from gepakit.integrations.dspy.gepa_kwargs import HANDLERS, NO_MEANING, SET_BY_GEPA

    known = set(HANDLERS) | set(NO_MEANING) | SET_BY_GEPA
    assert set(inspect.signature(gepa_api.optimize).parameters) - known == set()
    doc = inspect.getdoc(dspy.GEPA) or ""
    start = doc.index("gepa_kwargs:")
    section = doc[start : doc.index("Budget Configuration", start)]
    documented = set(re.findall(r"- (\w+)[:,]", section)) | set(re.findall(r", (\w+):", section))
    assert "use_cloudpickle" in documented and "tracking_key_prefix" in documented
    assert documented - set(HANDLERS) - set(NO_MEANING) == set()


@pytest.mark.parametrize(
    "gepa_kwargs",
    [
        {"callbacks": 5},
        {"callbacks": "on_start"},
        {"reflection_lm_kwargs": "temperature=1"},
        {"stop_callbacks": [5]},
        {"acceptance_criterion": "sometimes"},
        {"cache_evaluation": "no"},
    ],
)
def test_bad_gepa_kwargs_values_are_config_errors(gepa_kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="gepa_kwargs"):
        GEPA(
            feedback_metric, max_metric_calls=10, reflection_lm=DummyLM([]), gepa_kwargs=gepa_kwargs
        )


def test_no_valset_is_logged_not_a_python_warning(caplog: pytest.LogCaptureFixture) -> None:
    import warnings

    gepa = GEPA(feedback_metric, max_metric_calls=12, instruction_proposer=Recorder())
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING, "gepakit.dspy"):
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", "the budget of .* leaves no room", UserWarning)
        run(gepa, RuleLM(careful_rule))
    assert "no valset given" in caplog.text


# -- gepakit's reflection options through the DSPy front door -------------------------------


def test_reflection_style_compact_uses_gepakits_small_model_profile() -> None:
    prompts: list[str] = []

    def reflect(system: str, user: str) -> str:
        prompts.append(user)
        return "```\nAnswer with the capital city. Be careful.\n```"

    gepa = GEPA(
        feedback_metric,
        max_metric_calls=20,
        reflection_lm=RuleLM(reflect),
        reflection_style="compact",
        use_merge=False,
    )
    run(gepa, RuleLM(careful_rule), valset=capital_examples())
    assert prompts and "If the input" in prompts[0]  # the compact profile's shape template


def test_reflection_lm_kwargs_and_max_text_chars_reach_the_dspy_proposer() -> None:
    import contextvars

    from gepakit.integrations.dspy.proposers import DspyProposer
    from gepakit.integrations.dspy.reflection import DspyInstructionProposer
    from gepakit.lm.usage import UsageLedger

    lm = dspy.LM("openai/gpt-4o-mini", temperature=0.0, api_key="not-used")
    proposer = DspyProposer(
        reflection_lm=lm,
        custom=None,
        ledger=UsageLedger(),
        context=contextvars.copy_context(),
        lm_kwargs={"temperature": 1.0, "max_tokens": 32000},
        max_text_chars=500,
    )
    inner = proposer.inner
    assert isinstance(inner, DspyInstructionProposer)
    assert inner.lm.kwargs["temperature"] == 1.0 and inner.lm.kwargs["max_tokens"] == 32000
    assert lm.kwargs["temperature"] == 0.0  # the user's LM is left as it was
    assert inner.max_chars == 500
    gepa = GEPA(
        feedback_metric,
        max_metric_calls=10,
        reflection_lm=lm,
        gepa_kwargs={"reflection_lm_kwargs": {"temperature": 1.0}},
        max_text_chars=800,
    )
    assert gepa.reflection_lm_kwargs == {"temperature": 1.0} and gepa.max_text_chars == 800
    assert "max_text_chars" not in gepa.options


def test_an_explicit_max_error_rate_gives_gepakits_error_handling() -> None:
    from gepakit.errors import EvaluatorError

    gepa = GEPA(
        feedback_metric, max_metric_calls=12, instruction_proposer=Recorder(), max_error_rate=0.5
    )
    with pytest.raises(EvaluatorError, match="backend down"), dspy.context(lm=RuleLM(careful_rule)):
        gepa.compile(AlwaysFails(), trainset=capital_examples(), valset=capital_examples())


def test_gepas_strategy_names_in_gepa_kwargs_become_gepakits() -> None:
    from gepakit.integrations.dspy.gepa_kwargs import translate

    gepa_names = {
        "val_evaluation_policy": "full_eval",
        "batch_sampler": "epoch_shuffled",
        "acceptance_criterion": "strict_improvement",
    }
    from gepakit import optimize

    everything = frozenset(inspect.signature(optimize).parameters)
    assert translate(gepa_names, everything).options == {
        "val_evaluation_policy": "full",
        "batch_sampler": "epoch",
        "acceptance": "improvement",
    }
    # gepa's defaults are gepakit's, so they need no option of this gepakit.
    assert translate({**gepa_names, "val_evaluation_policy": None}, frozenset()).options == {
        "acceptance": "improvement"
    }
    with pytest.raises(ConfigError, match=r"needs gepakit\.optimize"):
        translate({"val_evaluation_policy": "subsample"}, frozenset())
