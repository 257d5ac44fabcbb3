"""gepakit.dspy.GEPA with scripted DSPy LMs: plumbing, traces per predictor, errors."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import dspy
import pytest
from dspy.utils.dummies import DummyLM

from gepakit.dspy import GEPA, DspyGEPAResult, MetricSignatureError
from gepakit.errors import ConfigError
from gepakit.integrations.dspy.proposers import render_examples

from .dspy_helpers import (
    CAPITALS,
    RuleLM,
    TwoStep,
    capital_examples,
    careful_rule,
    country_of,
    feedback_metric,
)

pytestmark = [
    pytest.mark.usefixtures("dspy_isolated"),
    pytest.mark.filterwarnings(
        # compile() without valset warns on purpose; optimize() warns about tiny budgets
        "ignore:no valset given:UserWarning",
        "ignore:the budget of .* leaves no room:UserWarning",
    ),
]


class Recorder:
    """A DSPy-style instruction proposer that records what it was given."""

    def __init__(self, suffix: str = " Be careful.") -> None:
        self.calls: list[dict[str, Any]] = []
        self.suffix = suffix

    def __call__(
        self,
        candidate: dict[str, str],
        reflective_dataset: dict[str, list[dict[str, Any]]],
        components_to_update: list[str],
    ) -> dict[str, str]:
        self.calls.append(
            {
                "candidate": dict(candidate),
                "dataset": {k: list(v) for k, v in reflective_dataset.items()},
                "components": list(components_to_update),
                "lm": dspy.settings.lm,
            }
        )
        return {c: candidate[c] + self.suffix for c in components_to_update}


def instructions_of(predictor: Any) -> str:
    return str(predictor.signature.instructions)


def run(gepa: GEPA, task: Any, **kwargs: Any) -> Any:
    train = kwargs.pop("trainset", capital_examples())
    with dspy.context(lm=task):
        return gepa.compile(TwoStep(), trainset=train, **kwargs)


def test_two_predictor_program_improves_and_traces_split_per_predictor() -> None:
    proposer = Recorder()
    reflection = DummyLM([])
    gepa = GEPA(
        feedback_metric,
        max_metric_calls=30,
        instruction_proposer=proposer,
        reflection_lm=reflection,
        num_threads=1,
        track_stats=True,
        component_selector="all",
    )
    student = TwoStep()
    train = capital_examples()
    with dspy.context(lm=RuleLM(careful_rule)):
        program: Any = gepa.compile(student, trainset=train, valset=train)

    assert "Be careful" in program.answer.signature.instructions
    assert "Be careful" not in instructions_of(student.answer)  # student untouched
    first = proposer.calls[0]
    assert first["lm"] is reflection  # custom proposers run under reflection_lm
    assert sorted(first["components"]) == ["answer", "draft"]
    draft_recs, answer_recs = first["dataset"]["draft"], first["dataset"]["answer"]
    assert len(draft_recs) == len(answer_recs) == 3
    # each predictor sees only its own inputs and outputs
    assert all(set(r["Inputs"]) == {"question"} for r in draft_recs)
    assert all(set(r["Generated Outputs"]) == {"draft"} for r in draft_recs)
    assert all(set(r["Inputs"]) == {"question", "draft"} for r in answer_recs)
    assert all(set(r["Generated Outputs"]) == {"answer"} for r in answer_recs)
    # feedback comes from the metric called with pred_name
    assert all("(predictor answer)" in r["Feedback"] for r in answer_recs)
    assert all("(predictor draft)" in r["Feedback"] for r in draft_recs)
    details = program.detailed_results
    assert isinstance(details, DspyGEPAResult)
    assert details.val_aggregate_scores[0] == 0.0
    assert details.val_aggregate_scores[details.best_idx] == 1.0
    assert details.usage["roles"]["task"]["prompt_tokens"] > 0


def test_default_proposer_uses_reflection_lm_and_records_usage() -> None:
    prompts: list[str] = []

    def reflect(system: str, user: str) -> str:
        prompts.append(user)
        return "```\nAnswer with the capital city. Be careful.\n```"

    reflection = RuleLM(reflect)
    gepa = GEPA(
        feedback_metric,
        max_metric_calls=30,
        reflection_lm=reflection,
        num_threads=1,
        track_stats=True,
    )
    program = run(gepa, RuleLM(careful_rule), valset=capital_examples())
    assert "Be careful" in program.answer.signature.instructions
    assert prompts and "expected Paris" in "".join(prompts)
    roles = program.detailed_results.usage["roles"]
    assert roles["reflection"]["calls"] == reflection.calls
    assert roles["reflection"]["prompt_tokens"] == 10 * reflection.calls
    assert roles["task"]["completion_tokens"] > 0


def test_format_failure_becomes_feedback_with_expected_structure() -> None:
    def rule(system: str, user: str) -> Any:
        if "`answer`" in system and "Peru" in user:
            return "I refuse to use your format"
        return careful_rule(system, user)

    proposer = Recorder()
    gepa = GEPA(
        feedback_metric,
        max_metric_calls=12,
        instruction_proposer=proposer,
        add_format_failure_as_feedback=True,
        component_selector="all",
        num_threads=1,
        track_stats=True,
        use_merge=False,
    )
    program = run(gepa, RuleLM(rule), valset=capital_examples())
    peru = program.detailed_results.val_subscores[0][2]
    assert peru == 0.0
    answer_recs = proposer.calls[0]["dataset"]["answer"]
    failed = [r for r in answer_recs if "could not be parsed" in str(r["Generated Outputs"])]
    assert len(failed) == 1
    assert "I refuse to use your format" in failed[0]["Generated Outputs"]
    assert "[[ ## answer ## ]]" in failed[0]["Feedback"]  # the expected structure
    assert failed[0]["Inputs"]["question"] == "Capital of Peru?"


def test_format_failure_dropped_without_flag() -> None:
    def rule(system: str, user: str) -> Any:
        if "`answer`" in system and "Peru" in user:
            return "no fields here"
        return careful_rule(system, user)

    proposer = Recorder()
    gepa = GEPA(
        feedback_metric,
        max_metric_calls=12,
        instruction_proposer=proposer,
        component_selector="all",
        num_threads=1,
        use_merge=False,
    )
    run(gepa, RuleLM(rule), valset=capital_examples())
    dataset = proposer.calls[0]["dataset"]
    assert len(dataset["answer"]) == 2  # the unparseable Peru call is left out
    assert len(dataset["draft"]) == 2  # and so is the rest of that failed run


class Fragile(TwoStep):
    def forward(self, question: str) -> dspy.Prediction:
        if "Japan" in question:
            raise RuntimeError("tool crashed on Japan")
        return super().forward(question=question)


def test_failing_program_scores_failure_score_and_is_not_reflected_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    proposer = Recorder()
    gepa = GEPA(
        feedback_metric,
        max_metric_calls=12,
        instruction_proposer=proposer,
        failure_score=-1.0,
        num_threads=1,
        track_stats=True,
        use_merge=False,
    )
    train = capital_examples()
    with caplog.at_level(logging.WARNING, "gepakit.dspy"), dspy.context(lm=RuleLM(careful_rule)):
        program: Any = gepa.compile(Fragile(), trainset=train, valset=train)
    assert program.detailed_results.val_subscores[0][1] == -1.0
    # as in dspy.GEPA, the failed run gives the proposer no record; a warning names it
    recs = next(iter(proposer.calls[0]["dataset"].values()))
    assert len(recs) == 2
    assert not any("Japan" in str(r["Inputs"]) for r in recs)
    assert caplog.text.count("tool crashed on Japan") == 1


class Skipper(TwoStep):
    """Never calls the answer predictor."""

    def forward(self, question: str) -> dspy.Prediction:
        return dspy.Prediction(answer=self.draft(question=question).draft)


def test_predictor_that_never_ran_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    proposer = Recorder()
    gepa = GEPA(
        feedback_metric,
        max_metric_calls=12,
        instruction_proposer=proposer,
        component_selector="all",
        num_threads=1,
        use_merge=False,
    )
    train = capital_examples()
    with caplog.at_level(logging.WARNING, "gepakit.dspy"), dspy.context(lm=RuleLM(careful_rule)):
        gepa.compile(Skipper(), trainset=train, valset=train)
    assert "'answer'" in caplog.text and "no reflective examples" in caplog.text
    assert proposer.calls[0]["components"] == ["draft"]


def test_score_mismatch_warns_once_and_uses_program_score(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def metric(gold: Any, pred: Any, trace: Any, pred_name: Any, pred_trace: Any) -> Any:
        score = float(pred.answer == gold.answer)
        return dspy.Prediction(score=0.5 if pred_name else score, feedback="fb")

    gepa = GEPA(
        metric,
        max_metric_calls=12,
        instruction_proposer=Recorder(),
        num_threads=1,
        track_stats=True,
        use_merge=False,
    )
    with caplog.at_level(logging.WARNING, "gepakit.dspy"):
        program = run(gepa, RuleLM(careful_rule), valset=capital_examples())
    assert caplog.text.count("warn_on_score_mismatch=False") == 1
    assert set(program.detailed_results.val_subscores[0].values()) == {0.0}


def test_metric_signature_checked_up_front() -> None:
    with pytest.raises(MetricSignatureError, match="five arguments") as info:
        GEPA(lambda gold, pred: 1.0, auto="light", reflection_lm=DummyLM([]))
    assert isinstance(info.value, TypeError) and isinstance(info.value, ConfigError)
    assert "https://dspy.ai" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"auto": "light", "max_metric_calls": 10}, "exactly one"),
        ({}, "exactly one"),
        ({"auto": "extreme"}, "auto must be one of"),
        ({"max_metric_calls": 10, "gepa_kwargs": {"batch_sampler": "x"}}, "batch_sampler"),
        ({"max_metric_calls": 10, "code_proposer": lambda **k: {}}, "code_proposer"),
        ({"max_metric_calls": 10, "track_best_outputs": True}, "track_stats"),
        ({"max_metric_calls": 10, "max_merge_invocations": None}, "max_merge_invocations"),
        ({"max_metric_calls": 10, "candidate_selection_strategy": "best"}, "candidate_selection"),
        ({"max_metric_calls": 10, "component_selector": 3}, "component_selector"),
        ({"max_metric_calls": 10, "gepa_kwargs": {"use_merge": False}}, "set by GEPA"),
        ({"max_metric_calls": 10, "gepa_kwargs": {"no_such_key": 1}}, "no_such_key"),
        ({"max_metric_calls": 10, "reflection_minibatch_size": 0}, "reflection_minibatch"),
    ],
)
def test_unsupported_or_invalid_arguments_raise(kwargs: dict[str, Any], match: str) -> None:
    kwargs.setdefault("reflection_lm", DummyLM([]))
    with pytest.raises(ConfigError, match=match):
        GEPA(feedback_metric, **kwargs)


def test_reflection_lm_or_proposer_required() -> None:
    with pytest.raises(ConfigError, match="reflection_lm"):
        GEPA(feedback_metric, auto="light")


def test_compile_errors_before_any_lm_call() -> None:
    gepa = GEPA(feedback_metric, max_metric_calls=10, reflection_lm=DummyLM([]))
    with pytest.raises(ConfigError, match="no task LM"):
        gepa.compile(TwoStep(), trainset=capital_examples())
    task = RuleLM(careful_rule)
    with dspy.context(lm=task):
        with pytest.raises(ConfigError, match="teacher"):
            gepa.compile(TwoStep(), trainset=capital_examples(), teacher=TwoStep())
        with pytest.raises(ConfigError, match="with_inputs"):
            gepa.compile(TwoStep(), trainset=[dspy.Example(question="q", answer="a")])
        with pytest.raises(ConfigError, match="trainset"):
            gepa.compile(TwoStep(), trainset=[])
    assert task.calls == 0


def test_track_stats_fields_match_dspy() -> None:
    from dspy.teleprompt.gepa.gepa import DspyGEPAResult as DspyResult

    gepa = GEPA(
        feedback_metric,
        max_metric_calls=30,
        instruction_proposer=Recorder(),
        num_threads=1,
        track_stats=True,
        track_best_outputs=True,
    )
    train = capital_examples()
    program = run(gepa, RuleLM(careful_rule), trainset=train)  # no valset: trainset used
    details: Any = program.detailed_results
    ours = {f.name for f in dataclasses.fields(details)}
    their_cls: Any = DspyResult  # wrapped by dspy's @experimental
    theirs = {f.name for f in dataclasses.fields(their_cls)}
    assert theirs <= ours
    assert {"usage", "cost_usd"} <= ours
    for prop in ("best_idx", "best_candidate", "highest_score_achieved_per_val_task"):
        getattr(details, prop)
    assert all(isinstance(c, dspy.Module) for c in details.candidates)
    assert details.parents[0] == [None]
    assert all(set(s) == {0, 1, 2} for s in details.val_subscores)
    assert set(details.per_val_instance_best_candidates) == {0, 1, 2}
    assert details.best_outputs_valset is not None
    best_outputs = details.best_outputs_valset[0]
    assert isinstance(best_outputs[0][1], dspy.Prediction)
    assert details.total_metric_calls <= 30
    assert details.num_full_val_evals == len(details.candidates)
    assert details.seed == 0
    assert details.best_candidate.answer.signature.instructions.endswith("Be careful.")
    as_dict = details.to_dict()
    assert set(as_dict) >= {
        "candidates",
        "parents",
        "val_aggregate_scores",
        "val_subscores",
        "per_val_instance_best_candidates",
        "discovery_eval_counts",
        "best_outputs_valset",
        "total_metric_calls",
        "num_full_val_evals",
        "log_dir",
        "seed",
        "best_idx",
    }


def test_optimized_program_saves_and_loads_with_dspy(tmp_path: Path) -> None:
    gepa = GEPA(
        feedback_metric, max_metric_calls=30, instruction_proposer=Recorder(), num_threads=1
    )
    program = run(gepa, RuleLM(careful_rule), valset=capital_examples())
    path = tmp_path / "program.json"
    program.save(str(path))
    loaded = TwoStep()
    loaded.load(str(path))
    assert instructions_of(loaded.answer) == instructions_of(program.answer)
    with dspy.context(lm=RuleLM(careful_rule)):
        assert loaded(question="Capital of Chile?").answer == CAPITALS["Chile"]


def test_threads_see_the_context_lm_and_results_match_serial() -> None:
    results = []
    for threads in (1, 4):
        gepa = GEPA(
            feedback_metric,
            max_metric_calls=30,
            instruction_proposer=Recorder(),
            num_threads=threads,
            track_stats=True,
            use_merge=False,
        )
        program = run(gepa, RuleLM(careful_rule), valset=capital_examples())
        results.append(program.detailed_results.val_aggregate_scores)
    assert results[0] == results[1]


def test_multimodal_placeholders_are_unique_across_the_prompt() -> None:
    img = [dspy.Image(url=f"data:image/png;base64,AAA{i}") for i in range(3)]
    records = [
        {"Inputs": {"photo": img[0], "caption": "a"}, "Generated Outputs": "x", "Feedback": "f"},
        {"Inputs": {"photo": img[1], "more": [img[2]]}, "Generated Outputs": "y", "Feedback": "g"},
    ]
    text, images = render_examples(records)
    assert images == img
    for n in (1, 2, 3):
        assert text.count(f"[IMAGE-{n}]") == 1
    assert "[IMAGE-4]" not in text
    assert text.index("[IMAGE-1]") < text.index("## Example 2") < text.index("[IMAGE-2]")


def test_multimodal_proposer_sends_images_to_reflection_lm() -> None:
    from gepakit.dspy import MultiModalInstructionProposer

    seen: list[str] = []

    def reflect(system: str, user: str) -> Any:
        seen.append(user)
        return {"new_instructions": "Look at the photo. Be careful."}

    proposer = MultiModalInstructionProposer()
    img = dspy.Image(url="data:image/png;base64,AAAA")
    records = [
        {"Inputs": {"photo": img}, "Generated Outputs": {"answer": "cat"}, "Feedback": "dog"}
    ]
    with dspy.context(lm=RuleLM(reflect)):
        out = proposer({"step": "Name the animal."}, {"step": records}, ["step"])
    assert out == {"step": "Look at the photo. Be careful."}
    assert "[IMAGE-1]" in "".join(seen)


def test_import_name_does_not_shadow_dspy() -> None:
    import gepakit.dspy as ours

    assert ours.GEPA is GEPA
    assert dspy.__name__ == "dspy" and hasattr(dspy, "Predict")
    assert country_of("Capital of Peru?") == "Peru"


def test_tracking_options_reach_optimize(monkeypatch: pytest.MonkeyPatch) -> None:
    import gepakit.api

    pytest.importorskip("mlflow")
    seen: dict[str, Any] = {}
    real = gepakit.api.optimize

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        kwargs.update(use_mlflow=False, mlflow_tracking_uri=None, mlflow_experiment_name=None)
        return real(*args, **kwargs)

    monkeypatch.setattr(gepakit.api, "optimize", spy)
    gepa = GEPA(
        feedback_metric,
        max_metric_calls=10,
        instruction_proposer=Recorder(),
        num_threads=1,
        use_mlflow=True,
        gepa_kwargs={"mlflow_experiment_name": "exp", "mlflow_tracking_uri": "file:///tmp/x"},
    )
    run(gepa, RuleLM(careful_rule), valset=capital_examples())
    assert seen["use_mlflow"] is True
    assert seen["mlflow_experiment_name"] == "exp"
    assert seen["run_dir"] is None and seen["max_metric_calls"] == 10


def test_log_dir_resumes_without_spending_metric_calls_again(tmp_path: Path) -> None:
    def compile_once() -> tuple[Any, RuleLM]:
        task = RuleLM(careful_rule)
        gepa = GEPA(
            feedback_metric,
            max_metric_calls=20,
            instruction_proposer=Recorder(),
            num_threads=1,
            track_stats=True,
            log_dir=str(tmp_path / "run"),
        )
        return run(gepa, task, valset=capital_examples()), task

    first, first_lm = compile_once()
    again, again_lm = compile_once()
    assert first_lm.calls > 0
    assert again_lm.calls == 0  # everything came back from the run store
    assert again.detailed_results.log_dir == str(tmp_path / "run")
    assert instructions_of(again.answer) == instructions_of(first.answer)
    assert (
        again.detailed_results.val_aggregate_scores == first.detailed_results.val_aggregate_scores
    )
