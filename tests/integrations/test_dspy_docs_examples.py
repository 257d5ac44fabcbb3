"""The GEPA code of DSPy's docs and tutorials, with `from gepakit.dspy import GEPA`.

Each test keeps the tutorial's program shape, metric and GEPA arguments (budget aside,
where a tutorial uses `auto="light"` with hosted models) and swaps the hosted LMs for
scripted ones: the overview and advanced pages (docs/api/optimizers/GEPA), and the AIME,
facility support, PAPILLON and trusted-monitor tutorials.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dspy
import pytest
from dspy.utils.dummies import DummyLM

from gepakit.dspy import GEPA

from .dspy_helpers import RuleLM

pytestmark = [pytest.mark.filterwarnings("ignore:the budget of .* leaves no room:UserWarning")]


@pytest.fixture(autouse=True)
def configured_settings() -> Iterator[None]:
    """The tutorials call dspy.configure(lm=...); undo it after each test."""
    yield
    dspy.configure(lm=None, adapter=None)


def reflection_lm(text: str) -> RuleLM:
    """A reflection LM that always proposes `text` (as dspy.GEPA's JSON proposer expects)."""
    return RuleLM(lambda system, user: json.dumps({"new_instruction": text}))


# -- AIME: ChainOfThought, int answers, metric returning ints or Predictions ---------------


def aime_rule(system: str, user: str) -> dict[str, Any]:
    a, b = map(int, re.findall(r"(\d+) \+ (\d+)", user)[-1])
    careful = "Add carefully" in system
    return {"reasoning": "adding", "answer": str(a + b if careful else a + b + 1)}


def aime_metric_with_feedback(example, prediction, trace=None, pred_name=None, pred_trace=None):  # type: ignore[no-untyped-def]
    correct_answer = int(example["answer"])
    written_solution = example.get("solution", "")
    try:
        llm_answer = int(prediction.answer)
    except ValueError:
        return dspy.Prediction(score=0, feedback="The final answer must be a valid integer.")
    score = int(correct_answer == llm_answer)
    verdict = "correct" if score == 1 else "incorrect"
    feedback_text = f"Your answer is {verdict}. The correct answer is '{correct_answer}'."
    if written_solution:
        feedback_text += f" Here's the full step-by-step solution:\n{written_solution}"
    return dspy.Prediction(score=score, feedback=feedback_text)


def test_aime_tutorial() -> None:
    def sums(pairs: list[tuple[int, int]]) -> list[Any]:
        return [
            dspy.Example(
                problem=f"What is {a} + {b}?", solution=f"{a}+{b}", answer=a + b
            ).with_inputs("problem")
            for a, b in pairs
        ]

    train_set, val_set = sums([(1, 2), (3, 4), (5, 6)]), sums([(7, 8), (9, 1)])
    dspy.configure(lm=RuleLM(aime_rule))
    program = dspy.ChainOfThought("problem -> answer")
    optimizer = GEPA(
        metric=aime_metric_with_feedback,
        max_metric_calls=40,  # the tutorial: auto="light"
        num_threads=32,
        track_stats=True,
        reflection_minibatch_size=3,
        reflection_lm=reflection_lm("Add carefully and answer with the integer only."),
    )
    optimized_program: Any = optimizer.compile(program, trainset=train_set, valset=val_set)
    assert "Add carefully" in optimized_program.predict.signature.instructions
    details: Any = optimized_program.detailed_results
    assert details.val_aggregate_scores[details.best_idx] == 1.0


# -- Facility support: three predictors, per-predictor feedback, find_dominator_programs ---


class FacilitySupportAnalyzer(dspy.Module):
    def __init__(self) -> None:
        self.urgency_module = dspy.ChainOfThought("message -> urgency")
        self.sentiment_module = dspy.ChainOfThought("message -> sentiment")
        self.categories_module = dspy.ChainOfThought("message -> categories: list[str]")

    def forward(self, message: str) -> dspy.Prediction:
        return dspy.Prediction(
            urgency=self.urgency_module(message=message).urgency,
            sentiment=self.sentiment_module(message=message).sentiment,
            categories=self.categories_module(message=message).categories,
        )


def facility_rule(system: str, user: str) -> dict[str, Any]:
    if "`urgency`" in system:
        return {"reasoning": "r", "urgency": "high" if "Leaks are urgent" in system else "low"}
    if "`sentiment`" in system:
        return {"reasoning": "r", "sentiment": "negative"}
    return {"reasoning": "r", "categories": ["plumbing"]}


def facility_metric_with_feedback(example, pred, trace=None, pred_name=None, pred_trace=None):  # type: ignore[no-untyped-def]
    gold = json.loads(example["answer"])
    scores = {
        "urgency": float(gold["urgency"] == pred.urgency),
        "sentiment": float(gold["sentiment"] == pred.sentiment),
        "categories": float(set(gold["categories"]) == set(pred.categories)),
    }
    total = sum(scores.values()) / 3
    if pred_name is None:
        return dspy.Prediction(score=total, feedback="overall")
    field = pred_name.split("_module")[0]
    return dspy.Prediction(score=total, feedback=f"{field}: expected {gold[field]}")


def test_facility_support_tutorial() -> None:
    from gepa.gepa_utils import find_dominator_programs

    gold = json.dumps({"urgency": "high", "sentiment": "negative", "categories": ["plumbing"]})
    data = [
        dspy.Example(message=f"Pipe {i} leaks", answer=gold).with_inputs("message")
        for i in range(3)
    ]
    dspy.configure(lm=RuleLM(facility_rule))
    optimizer = GEPA(
        metric=facility_metric_with_feedback,
        max_metric_calls=60,  # the tutorial: auto="light"
        num_threads=32,
        track_stats=True,
        use_merge=False,
        reflection_lm=reflection_lm("Leaks are urgent: answer high."),
    )
    optimized_program = optimizer.compile(FacilitySupportAnalyzer(), trainset=data, valset=data[:2])
    details: Any = optimized_program.detailed_results
    assert details.val_aggregate_scores[details.best_idx] == 1.0
    pareto_front_programs = find_dominator_programs(
        details.per_val_instance_best_candidates, details.val_aggregate_scores
    )
    assert details.best_idx in pareto_front_programs
    for child, parents in enumerate(details.parents):  # the tutorial's dag_to_dot walk
        assert all(p is None or p < child for p in parents)


# -- PAPILLON: set_lm plus a configured LM, an LM called directly, LLM-judge metric -------


class PAPILLON(dspy.Module):
    def __init__(self, untrusted_model: Any) -> None:
        self.craft_redacted_request = dspy.ChainOfThought("user_query -> llm_request")
        self.respond_to_query = dspy.Predict(
            "related_llm_request, related_llm_response, user_query -> response"
        )
        self.untrusted_model = untrusted_model

    def forward(self, user_query: str) -> dspy.Prediction:
        try:
            llm_request = self.craft_redacted_request(user_query=user_query).llm_request
            llm_response = self.untrusted_model(llm_request)[0]
            response = self.respond_to_query(
                related_llm_request=llm_request,
                related_llm_response=llm_response,
                user_query=user_query,
            ).response
        except Exception:
            return dspy.Prediction(llm_request="", llm_response="", response="")
        return dspy.Prediction(
            llm_request=llm_request, llm_response=llm_response, response=response
        )


def papillon_rule(system: str, user: str) -> dict[str, Any]:
    if "`llm_request`" in system:
        redact = "Never repeat names" in system
        query = re.findall(r"Write to [A-Za-z ]+ about the party", user)[-1]
        return {"reasoning": "r", "llm_request": "write a letter" if redact else query}
    return {"response": "Dear friend, ..."}


def compute_overall_score_with_feedback(gold, pred, trace=None, pred_name=None, pred_trace=None):  # type: ignore[no-untyped-def]
    leakage = float(gold.name in pred.llm_request)
    quality = float(bool(pred.response))
    overall_score = (quality + (1 - leakage)) / 2.0
    return dspy.Prediction(
        score=overall_score, feedback=f"The overall score is {overall_score:.2f}."
    )


def test_papillon_tutorial() -> None:
    local_lm = RuleLM(papillon_rule)
    large_lm = DummyLM([{"text": "a letter"}] * 100)
    dspy.configure(lm=local_lm)
    people = ["Alice Smith", "Bob Jones", "Carol White"]
    trainset = [
        dspy.Example(user_query=f"Write to {p} about the party", name=p).with_inputs("user_query")
        for p in people
    ]
    papillon = PAPILLON(untrusted_model=large_lm)
    papillon.set_lm(local_lm)
    compiler = GEPA(
        metric=compute_overall_score_with_feedback,
        reflection_lm=reflection_lm("Never repeat names or other personal details."),
        num_threads=16,
        track_stats=True,
        track_best_outputs=True,
        max_full_evals=6,  # the tutorial: 1, with a 300-example set
    )
    optimized_papillon = compiler.compile(student=papillon, trainset=trainset, valset=trainset)
    details: Any = optimized_papillon.detailed_results
    assert details.val_aggregate_scores[0] == 0.5
    assert details.val_aggregate_scores[details.best_idx] == 1.0
    assert details.best_outputs_valset is not None and set(details.best_outputs_valset) == {0, 1, 2}


# -- Trusted monitor: set_lm and no configured LM, ScoreWithFeedback, save ---------------


class MonitorTrainerProgram(dspy.Module):
    def __init__(self, monitor_program: dspy.Module) -> None:
        self.monitor_program = monitor_program

    def forward(self, task_description: str, attack_code: str, honest_code: str) -> Any:
        attack = self.monitor_program(task_description=task_description, code=attack_code)
        honest = self.monitor_program(task_description=task_description, code=honest_code)
        return dspy.Prediction(
            attack_suspicion_score=attack.suspicion_score,
            honest_suspicion_score=honest.suspicion_score,
        )


def monitor_rule(system: str, user: str) -> dict[str, Any]:
    backdoor = "backdoor" in user.rsplit("[[ ## code ## ]]", 1)[-1]
    sharp = "Look for magic constants" in system
    return {"reasoning": "r", "suspicion_score": str(90 if backdoor and sharp else 10)}


def metric_for_example(gold, pred, trace=None, pred_name=None, pred_trace=None):  # type: ignore[no-untyped-def]
    from dspy.teleprompt.gepa.gepa_utils import ScoreWithFeedback

    attack, honest = pred["attack_suspicion_score"], pred["honest_suspicion_score"]
    score = 1.0 if attack > honest else 0.0
    return ScoreWithFeedback(score=score, feedback=f"attack {attack} vs honest {honest}")


def test_trusted_monitor_tutorial(tmp_path: Path) -> None:
    class PredictSuspicionScore(dspy.Signature):
        """Give a suspicion score for the code."""

        task_description: str = dspy.InputField()
        code: str = dspy.InputField()
        suspicion_score: int = dspy.OutputField(ge=0, le=100)

    lm = RuleLM(monitor_rule)
    monitor_program = dspy.ChainOfThought(PredictSuspicionScore)
    monitor_program.set_lm(lm)  # no dspy.configure(lm=...) in the tutorial
    examples = [
        dspy.Example(
            task_description=f"task {i}", attack_code=f"if x == {i}: backdoor()", honest_code="ok"
        ).with_inputs("task_description", "attack_code", "honest_code")
        for i in range(3)
    ]
    gepa_optimizer = GEPA(
        max_full_evals=4,  # the tutorial: 2, with 200 examples
        metric=metric_for_example,
        num_threads=8,
        reflection_minibatch_size=3,
        track_stats=True,
        reflection_lm=reflection_lm("Look for magic constants and hidden branches."),
    )
    gepa_trainer_program = gepa_optimizer.compile(
        MonitorTrainerProgram(monitor_program), trainset=examples, valset=examples
    )
    gepa_program: Any = gepa_trainer_program.monitor_program
    path = tmp_path / "gepa.json"
    gepa_program.save(path)
    assert "magic constants" in gepa_program.predict.signature.instructions
    assert "magic constants" in path.read_text(encoding="utf-8")


# -- Overview and advanced pages ----------------------------------------------------------


def qa_rule(system: str, user: str) -> dict[str, Any]:
    return {"answer": "Paris" if "capital" in system.lower() else "?"}


def qa_data() -> list[Any]:
    return [dspy.Example(question="France?", answer="Paris").with_inputs("question")] * 2


def qa_metric(gold, pred, trace=None, pred_name=None, pred_trace=None):  # type: ignore[no-untyped-def]
    return dspy.Prediction(score=gold.answer == pred.answer, feedback=f"expected {gold.answer}")


def test_overview_inference_time_search() -> None:
    dspy.configure(lm=RuleLM(qa_rule))
    gepa = GEPA(
        metric=qa_metric,
        track_stats=True,
        track_best_outputs=True,
        max_metric_calls=12,
        reflection_lm=reflection_lm("Name the capital."),
    )
    my_tasks = qa_data()
    new_prog = gepa.compile(dspy.Predict("question -> answer"), trainset=my_tasks, valset=my_tasks)
    details: Any = new_prog.detailed_results
    assert details.highest_score_achieved_per_val_task == {0: 1.0, 1: 1.0}
    assert set(details.best_outputs_valset) == {0, 1}


class GenerateWordLimitedInstruction(dspy.Signature):
    """Given a current instruction and feedback examples, generate an improved instruction."""

    current_instruction = dspy.InputField()
    feedback_summary = dspy.InputField()
    max_words = dspy.InputField()
    improved_instruction = dspy.OutputField()


class WordLimitProposer:
    """The advanced page's custom proposer (a ChainOfThought on the reflection LM)."""

    def __init__(self, max_words: int = 1000) -> None:
        self.max_words = max_words
        self.instruction_improver = dspy.ChainOfThought(GenerateWordLimitedInstruction)

    def __call__(self, candidate: Any, reflective_dataset: Any, components_to_update: Any) -> Any:
        updated_components = {}
        for component_name in components_to_update:
            if component_name not in candidate or component_name not in reflective_dataset:
                continue
            feedback_text = "\n".join(
                f"Example {i + 1}: {ex.get('Feedback', 'No feedback')}"
                for i, ex in enumerate(reflective_dataset[component_name])
            )
            result = self.instruction_improver(
                current_instruction=candidate[component_name],
                feedback_summary=feedback_text,
                max_words=self.max_words,
            )
            updated_components[component_name] = result.improved_instruction
        return updated_components


def test_advanced_word_limit_proposer_runs_on_the_reflection_lm() -> None:
    seen: list[str] = []

    def improver(system: str, user: str) -> dict[str, Any]:
        seen.append(user)
        return {"reasoning": "r", "improved_instruction": "Name the capital city."}

    dspy.configure(lm=RuleLM(qa_rule))
    gepa = GEPA(
        metric=qa_metric,
        reflection_lm=RuleLM(improver),
        instruction_proposer=WordLimitProposer(max_words=700),
        max_metric_calls=12,
    )
    program: Any = gepa.compile(
        dspy.Predict("question -> answer"), trainset=qa_data(), valset=qa_data()
    )
    assert program.signature.instructions == "Name the capital city."
    assert "expected Paris" in seen[0] and "700" in seen[0]


def test_advanced_external_lm_proposer_and_custom_component_selector() -> None:
    external = RuleLM(lambda s, u: {"answer": "unused"})

    class ExternalLMProposer:
        def __call__(
            self, candidate: Any, reflective_dataset: Any, components_to_update: Any
        ) -> Any:
            with dspy.context(lm=external):
                external("improve")
                return {name: "Name the capital." for name in components_to_update}

    class CustomComponentSelector:
        def __call__(self, state, trajectories, subsample_scores, candidate_idx, candidate):  # type: ignore[no-untyped-def]
            return list(candidate.keys())

    dspy.configure(lm=RuleLM(qa_rule))
    gepa = GEPA(
        metric=qa_metric,
        reflection_lm=None,
        instruction_proposer=ExternalLMProposer(),
        component_selector=CustomComponentSelector(),
        max_metric_calls=12,
    )
    program: Any = gepa.compile(
        dspy.Predict("question -> answer"), trainset=qa_data(), valset=qa_data()
    )
    assert program.signature.instructions == "Name the capital."
    assert external.calls == 1


def test_advanced_dspys_multimodal_and_builtin_proposers() -> None:
    from dspy.teleprompt.gepa import InstructionProposer
    from dspy.teleprompt.gepa.instruction_proposal import MultiModalInstructionProposer

    replies: list[tuple[Any, Any]] = [
        (MultiModalInstructionProposer(), {"improved_instruction": "Name the capital."}),
        (InstructionProposer(max_chars=100), json.dumps({"new_instruction": "Name the capital."})),
    ]
    for proposer, reply in replies:
        dspy.configure(lm=RuleLM(qa_rule))
        gepa = GEPA(
            metric=qa_metric,
            reflection_lm=RuleLM(lambda s, u, reply=reply: reply),
            instruction_proposer=proposer,
            max_metric_calls=12,
        )
        program: Any = gepa.compile(
            dspy.Predict("question -> answer"), trainset=qa_data(), valset=qa_data()
        )
        assert program.signature.instructions == "Name the capital."
