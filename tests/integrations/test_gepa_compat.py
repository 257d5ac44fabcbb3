"""`gepakit.gepa.optimize`: gepa's signature, a `GEPAAdapter` unchanged, gepa objects."""

from __future__ import annotations

import inspect
import logging
import re
import sys
from pathlib import Path
from typing import Any

import pytest

import gepakit
import gepakit.gepa as gepa
from gepakit import ConfigError, EvaluatorError
from gepakit.gepa import EvaluationBatch, GEPAResult
from gepakit.lm.base import Completion
from gepakit.testing import ReflectionPrompt, ScriptedLM, ToyTask, fenced, scripted_reflection

# -- a batched two-component adapter (a fake written as gepa users write adapters) ------


class TwoPartAdapter:
    """A fake `GEPAAdapter` over `ToyTask`: batched, two components, per-component
    reflective records and one objective score per component. Counts its calls."""

    def __init__(self, task: ToyTask) -> None:
        self.task = task
        self.evaluate_calls: list[tuple[int, bool]] = []
        self.dataset_calls: list[list[str]] = []

    def evaluate(
        self, batch: list[Any], candidate: dict[str, str], capture_traces: bool = False
    ) -> EvaluationBatch:
        self.evaluate_calls.append((len(batch), capture_traces))
        outputs, scores, trajectories, objectives = [], [], [], []
        for item in batch:
            s = self.task.score(candidate, item)
            outputs.append(s.output)
            scores.append(s.score)
            trajectories.append({"item": item, "output": s.output, "feedback": s.feedback})
            objectives.append({c: self._part(candidate, item, c) for c in self.task.components})
        return EvaluationBatch(
            outputs=outputs,
            scores=scores,
            trajectories=trajectories if capture_traces else None,
            objective_scores=objectives,
        )

    def _part(self, candidate: dict[str, str], item: Any, component: str) -> float:
        mine = [k for k in item["needs"] if self.task.component_of(k) == component]
        if not mine:
            return 1.0
        return sum(self.task.rule(k) in candidate[component] for k in mine) / len(mine)

    def make_reflective_dataset(
        self, candidate: dict[str, str], eval_batch: Any, components_to_update: list[str]
    ) -> dict[str, list[dict[str, Any]]]:
        self.dataset_calls.append(list(components_to_update))
        out: dict[str, list[dict[str, Any]]] = {}
        for name in components_to_update:
            records = []
            for t in eval_batch.trajectories:
                notes = [n for n in str(t["feedback"]).split("; ") if f"in '{name}'" in n]
                records.append(
                    {
                        "Inputs": {"needs": t["item"]["needs"]},
                        "Generated Outputs": t["output"],
                        "Feedback": "; ".join(notes) or f"nothing missing in '{name}'",
                    }
                )
            out[name] = records
        return out


def two_part_task() -> ToyTask:
    return ToyTask(num_rules=4, components=("plan", "style"), needs_per_example=2)


def test_a_gepa_adapter_runs_unchanged_with_one_call_per_batch_and_per_proposal() -> None:
    task = two_part_task()
    adapter = TwoPartAdapter(task)
    result = gepa.optimize(
        seed_candidate=task.seed_candidate,
        trainset=task.trainset,
        valset=task.valset,
        adapter=adapter,
        reflection_lm=task.reflect,
        max_metric_calls=150,
    )
    assert isinstance(result, GEPAResult)
    assert result.val_aggregate_scores[result.best_idx] == 1.0
    assert result.total_metric_calls is not None and result.total_metric_calls <= 150
    # One evaluate call per minibatch or valset: sizes add up to the metric calls.
    sizes = [n for n, _ in adapter.evaluate_calls]
    assert sum(sizes) == result.total_metric_calls
    val_calls = [n for n, traces in adapter.evaluate_calls if not traces]
    assert val_calls == [len(task.valset)] * result.num_candidates
    assert len(adapter.evaluate_calls) < result.total_metric_calls / 2
    # make_reflective_dataset: once per proposal that reached the proposer.
    inner = result.gepakit_result
    assert inner is not None
    reflected = [p for p in inner.proposals if p.kind == "reflection" and p.components]
    assert len(adapter.dataset_calls) == len(reflected) > 0
    assert [tuple(c) for c in adapter.dataset_calls] == [p.components for p in reflected]
    # Objective scores reach the result as in gepa.
    assert result.val_aggregate_subscores is not None
    assert result.val_aggregate_subscores[result.best_idx] == {"plan": 1.0, "style": 1.0}
    assert result.per_objective_best_candidates is not None
    assert result.best_idx in result.per_objective_best_candidates["plan"]


def test_the_result_has_gepa_result_fields_and_round_trips() -> None:
    task = two_part_task()
    result = gepa.optimize(
        seed_candidate=task.seed_candidate,
        trainset=task.trainset,
        valset=task.valset,
        adapter=TwoPartAdapter(task),
        reflection_lm=task.reflect,
        max_metric_calls=80,
        seed=3,
    )
    assert result.parents[0] == [None]
    assert all(p[0] is not None for p in result.parents[1:])
    assert set(result.per_val_instance_best_candidates) == set(range(len(task.valset)))
    assert all(set(s) == set(range(len(task.valset))) for s in result.val_subscores)
    assert result.num_val_instances == len(task.valset)
    assert result.num_full_val_evals == result.num_candidates == len(result.candidates)
    assert result.discovery_eval_counts[0] == 0
    assert result.seed == 3 and result.run_dir is None
    assert result.best_candidate == result.candidates[result.best_idx]
    # track_best_outputs defaults to True, as in gepa.
    assert result.best_outputs_valset is not None
    assert set(result.best_outputs_valset) == set(range(len(task.valset)))
    again = GEPAResult.from_dict(result.to_dict())
    assert again == result
    assert "->" in result.candidate_tree_dot() or result.num_candidates == 1


def test_gepa_reads_the_result_dict() -> None:
    real = pytest.importorskip("gepa.core.result")
    task = two_part_task()
    result = gepa.optimize(
        seed_candidate=task.seed_candidate,
        trainset=task.trainset,
        adapter=TwoPartAdapter(task),
        reflection_lm=task.reflect,
        max_metric_calls=60,
    )
    theirs = real.GEPAResult.from_dict(result.to_dict())
    assert theirs.best_idx == result.best_idx
    assert theirs.val_subscores == result.val_subscores


def test_the_signature_and_defaults_are_gepas() -> None:
    real = pytest.importorskip("gepa")
    ours = inspect.signature(gepa.optimize).parameters
    theirs = inspect.signature(real.optimize).parameters
    assert list(ours) == list(theirs)
    assert {k: p.default for k, p in ours.items()} == {k: p.default for k, p in theirs.items()}


# -- gepa's README quick start, with fake LMs ------------------------------------------

CAPITALS = {"France": "Paris", "Peru": "Lima", "Japan": "Tokyo", "Kenya": "Nairobi"}


def qa_items() -> list[dict[str, Any]]:
    return [
        {
            "input": f"What is the capital of {country}?",
            "answer": capital,
            "additional_context": {"country": country},
        }
        for country, capital in CAPITALS.items()
    ]


def fake_task_lm(messages: list[dict[str, str]]) -> str:
    """A fake chat model: knows a capital only when the system prompt states it."""
    system, question = messages[0]["content"], messages[1]["content"]
    for country, capital in CAPITALS.items():
        if country in question and f"{country}={capital}" in system:
            return f"### {capital}"
    return "### I do not know"


def _write_down_answers(prompt: ReflectionPrompt) -> str:
    facts = re.findall(r"expected answer is '(\w+)'.*?country: (\w+)", prompt.prompt, re.DOTALL)
    added = " ".join(f"{country}={capital}" for capital, country in facts)
    return f"{prompt.current_text} {added}".strip()


fake_reflection_lm = scripted_reflection(_write_down_answers)
"""A fake reflection model: writes down the answers the feedback reveals."""


def test_the_readme_quick_start_runs_with_one_import_changed() -> None:
    trainset, valset = qa_items(), qa_items()
    seed_prompt = {
        "system_prompt": "You are a helpful assistant. Answer the question. "
        "Put your final answer in the format '### <answer>'"
    }
    result = gepa.optimize(
        seed_candidate=seed_prompt,
        trainset=trainset,
        valset=valset,
        task_lm=fake_task_lm,
        max_metric_calls=150,
        reflection_lm=fake_reflection_lm,
    )
    best = result.best_candidate
    assert isinstance(best, dict)
    assert result.val_aggregate_scores[0] == 0.0
    assert result.val_aggregate_scores[result.best_idx] == 1.0
    assert all(f"{c}={a}" in best["system_prompt"] for c, a in CAPITALS.items())


def test_cache_evaluation_false_evaluates_a_parent_minibatch_again_each_proposal() -> None:
    # gepa's default: no evaluation cache. The seed is perfect on its minibatch, so each
    # proposal evaluates it again (1 call) and skips, until one minibatch step no longer fits.
    lm = ScriptedLM(lambda prompt: "### Paris")
    result = gepa.optimize(
        seed_candidate={"system_prompt": "Answer."},
        trainset=qa_items()[:1],
        task_lm=lm,
        reflection_lm=fake_reflection_lm,
        max_metric_calls=10,
    )
    assert lm.calls == result.total_metric_calls == 9  # 10 - 9 = 1 < one step (2 calls)
    assert result.gepakit_result is not None and result.gepakit_result.cache_hits == 0
    cached = gepa.optimize(
        seed_candidate={"system_prompt": "Answer."},
        trainset=qa_items()[:1],
        task_lm=ScriptedLM(lambda prompt: "### Paris"),
        reflection_lm=fake_reflection_lm,
        max_metric_calls=10,
        cache_evaluation=True,
    )
    assert cached.total_metric_calls == 2
    assert cached.gepakit_result is not None and cached.gepakit_result.cache_hits > 0


def test_task_lm_can_be_a_gepakit_lm_and_data_is_checked_first() -> None:
    lm = ScriptedLM(lambda prompt: "### Paris")
    result = gepa.optimize(
        seed_candidate={"system_prompt": "Answer."},
        trainset=qa_items()[:1],
        task_lm=lm,
        reflection_lm=fake_reflection_lm,
        max_metric_calls=10,
        cache_evaluation=True,
    )
    assert result.val_aggregate_scores == [1.0]
    assert lm.calls == 2  # the val example, then the same item as a train minibatch
    with pytest.raises(ConfigError, match="'input' and 'answer'"):
        gepa.optimize(
            seed_candidate={"system_prompt": "Answer."},
            trainset=[{"question": "?"}],
            task_lm=lm,
            reflection_lm=fake_reflection_lm,
            max_metric_calls=10,
        )


def test_gepas_own_default_adapter_runs_unchanged() -> None:
    default = pytest.importorskip("gepa.adapters.default_adapter.default_adapter")
    adapter = default.DefaultAdapter(model=fake_task_lm)
    result = gepa.optimize(
        seed_candidate={"system_prompt": "Answer with '### <answer>'."},
        trainset=qa_items(),
        adapter=adapter,
        reflection_lm=lambda prompt: fenced(
            "Answer with '### <answer>'. " + " ".join(f"{c}={a}" for c, a in CAPITALS.items())
        ),
        max_metric_calls=40,
    )
    assert result.val_aggregate_scores[result.best_idx] == 1.0


# -- reflection prompt templates -------------------------------------------------------

TEMPLATE = """Current instructions:
<curr_param>
Inputs, outputs, and feedback:
<side_info>
Please improve the instructions."""


def test_a_gepa_reflection_template_is_sent_with_its_placeholders_filled() -> None:
    prompts: list[str] = []

    def reflect(prompt: str) -> str:
        prompts.append(prompt)
        return "```\nimproved instructions\n```"

    gepa.optimize(
        seed_candidate={"instructions": "initial instructions"},
        trainset=qa_items()[:1],
        task_lm=fake_task_lm,
        reflection_lm=reflect,
        reflection_prompt_template=TEMPLATE,
        max_metric_calls=4,  # gepa's own test gives 2: it overspends, gepakit does not
        reflection_minibatch_size=1,
    )
    assert prompts
    prompt = prompts[0]
    assert "<curr_param>" not in prompt and "<side_info>" not in prompt
    assert "initial instructions" in prompt
    assert "What is the capital of France?" in prompt
    assert "expected answer is 'Paris'" in prompt
    assert prompt.endswith("Please improve the instructions.")


def test_a_template_per_component_and_the_default_for_the_others() -> None:
    prompts: list[str] = []

    def reflect(prompt: str) -> str:
        prompts.append(prompt)
        return fenced("new text " + str(len(prompts)))

    gepa.optimize(
        seed_candidate={"system_prompt": "Answer.", "style": "Be brief."},
        trainset=qa_items()[:2],
        task_lm=fake_task_lm,
        reflection_lm=reflect,
        reflection_prompt_template={"style": "STYLE <curr_param> DATA <side_info> END"},
        module_selector="all",
        max_metric_calls=10,
        reflection_minibatch_size=2,
    )
    style = [p for p in prompts if p.startswith("STYLE Be brief. DATA ")]
    assert len(style) >= 1 and style[0].endswith(" END")
    assert any('The instructions are called "system_prompt"' in p for p in prompts)


def test_a_template_without_its_placeholders_is_refused_like_gepa_does() -> None:
    with pytest.raises(
        ValueError,
        match=re.escape("Missing placeholder(s) in prompt template: <curr_param>, <side_info>"),
    ):
        gepa.optimize(
            seed_candidate={"instructions": "initial instructions"},
            trainset=qa_items(),
            task_lm=fake_task_lm,
            reflection_lm=fake_reflection_lm,
            reflection_prompt_template="Missing both placeholders.",
            max_metric_calls=10,
        )


# -- proposers -------------------------------------------------------------------------


def test_propose_new_texts_of_the_adapter_is_honoured() -> None:
    task = two_part_task()
    seen: list[dict[str, Any]] = []

    class Proposing(TwoPartAdapter):
        def propose_new_texts(
            self, candidate: dict[str, str], reflective_dataset: Any, components: list[str]
        ) -> dict[str, str]:
            seen.append(dict(reflective_dataset))
            return task.proposer(candidate, reflective_dataset, components)

    adapter = Proposing(task)
    result = gepa.optimize(
        seed_candidate=task.seed_candidate,
        trainset=task.trainset,
        valset=task.valset,
        adapter=adapter,
        max_metric_calls=150,
    )
    assert result.val_aggregate_scores[result.best_idx] == 1.0
    assert len(seen) == len(adapter.dataset_calls) > 0
    assert all(set(d) <= {"plan", "style"} for d in seen)
    with pytest.raises(ConfigError, match="custom_candidate_proposer"):
        gepa.optimize(
            seed_candidate=task.seed_candidate,
            trainset=task.trainset,
            adapter=Proposing(task),
            custom_candidate_proposer=task.proposer,
            max_metric_calls=60,
        )


def test_custom_candidate_proposer() -> None:
    task = two_part_task()
    result = gepa.optimize(
        seed_candidate=task.seed_candidate,
        trainset=task.trainset,
        valset=task.valset,
        adapter=TwoPartAdapter(task),
        custom_candidate_proposer=task.proposer,
        max_metric_calls=150,
    )
    assert result.val_aggregate_scores[result.best_idx] == 1.0


def test_without_any_way_to_propose_the_error_says_what_is_missing() -> None:
    task = two_part_task()
    with pytest.raises(ConfigError, match="reflection_lm is required"):
        gepa.optimize(
            seed_candidate=task.seed_candidate,
            trainset=task.trainset,
            adapter=TwoPartAdapter(task),
            max_metric_calls=60,
        )


# -- errors ----------------------------------------------------------------------------


class FailingOnce(TwoPartAdapter):
    def evaluate(self, batch: list[Any], candidate: dict[str, str], capture_traces: bool = False):
        if len(self.evaluate_calls) == 1:
            self.evaluate_calls.append((len(batch), capture_traces))
            raise RuntimeError("model server down")
        return super().evaluate(batch, candidate, capture_traces)


def test_raise_on_exception_is_true_by_default_as_in_gepa() -> None:
    task = two_part_task()
    with pytest.raises(EvaluatorError, match="model server down"):
        gepa.optimize(
            seed_candidate=task.seed_candidate,
            trainset=task.trainset,
            adapter=FailingOnce(task),
            reflection_lm=task.reflect,
            max_metric_calls=60,
        )
    result = gepa.optimize(
        seed_candidate=task.seed_candidate,
        trainset=task.trainset,
        adapter=FailingOnce(task),
        reflection_lm=task.reflect,
        max_metric_calls=60,
        raise_on_exception=False,
    )
    inner = result.gepakit_result
    assert inner is not None and inner.proposals
    first = inner.proposals[0]
    assert first.decision == "failed" and first.parent_scores == (0.0, 0.0, 0.0)
    assert "nothing to reflect on" in first.reason and "model server down" in first.reason
    assert len(inner.proposals) > 1  # the run went on


# -- stoppers --------------------------------------------------------------------------


def run_toy(**kw: Any) -> GEPAResult:
    task = two_part_task()
    args: dict[str, Any] = {
        "seed_candidate": task.seed_candidate,
        "trainset": task.trainset,
        "valset": task.valset,
        "adapter": TwoPartAdapter(task),
        "reflection_lm": task.reflect,
        **kw,
    }
    return gepa.optimize(**args)


def test_gepa_stoppers_fire() -> None:
    utils = pytest.importorskip("gepa.utils")
    capped = run_toy(stop_callbacks=[utils.MaxMetricCallsStopper(40)])
    assert capped.total_metric_calls is not None and capped.total_metric_calls <= 40
    assert capped.gepakit_result is not None
    assert capped.gepakit_result.max_metric_calls == 40

    threshold = run_toy(max_metric_calls=300, stop_callbacks=utils.ScoreThresholdStopper(0.5))
    assert max(threshold.val_aggregate_scores) >= 0.5
    assert max(threshold.val_aggregate_scores[:-1]) < 0.5
    assert threshold.gepakit_result is not None
    assert threshold.gepakit_result.stop_reason == "stop callback returned True"

    proposals = run_toy(max_metric_calls=300, stop_callbacks=utils.MaxCandidateProposalsStopper(3))
    assert proposals.gepakit_result is not None
    assert len(proposals.gepakit_result.proposals) == 3

    timeout = run_toy(stop_callbacks=utils.TimeoutStopCondition(0))
    assert timeout.num_candidates == 1 and timeout.total_metric_calls == 6


def test_no_improvement_and_composite_stoppers() -> None:
    utils = pytest.importorskip("gepa.utils")
    stuck = run_toy(
        reflection_lm=lambda prompt: fenced("a text that fixes nothing"),
        max_metric_calls=500,
        stop_callbacks=utils.CompositeStopper(
            utils.NoImprovementStopper(3), utils.MaxMetricCallsStopper(10**6)
        ),
    )
    assert stuck.gepakit_result is not None
    assert stuck.gepakit_result.stop_reason == "stop callback returned True"
    assert len(stuck.gepakit_result.proposals) == 3


def test_a_stop_callback_without_a_budget_is_enough_and_none_is_refused() -> None:
    calls: list[int] = []

    def stop_after_two(state: Any) -> bool:
        calls.append(state.i)
        return state.i >= 1

    result = run_toy(stop_callbacks=stop_after_two)
    assert result.gepakit_result is not None
    assert len(result.gepakit_result.proposals) == 2
    assert calls == [-1, 0, 1]
    with pytest.raises(ConfigError, match="max_metric_calls, stop_callbacks"):
        run_toy()


def test_a_gepa_stop_file_in_run_dir_stops_the_run(tmp_path: Path) -> None:
    (tmp_path / "gepa.stop").touch()
    result = run_toy(max_metric_calls=100, run_dir=str(tmp_path))
    assert result.num_candidates == 1 and result.total_metric_calls == 6
    assert result.run_dir == str(tmp_path)


# -- callbacks -------------------------------------------------------------------------


class Recorder:
    """A gepa-style callback (no base class needed) recording the hooks called."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("on_"):
            raise AttributeError(name)
        return lambda event: self.events.append((name, event))

    def names(self, name: str) -> list[dict[str, Any]]:
        return [e for n, e in self.events if n == name]


class Broken:
    def on_iteration_end(self, event: Any) -> None:
        raise RuntimeError("callback bug")


def test_gepa_callbacks_fire_and_a_failing_one_never_crashes_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rec = Recorder()
    task = two_part_task()
    adapter = TwoPartAdapter(task)
    with caplog.at_level(logging.WARNING, logger="gepakit"):
        result = run_toy(max_metric_calls=150, callbacks=[Broken(), rec], adapter=adapter)
    inner = result.gepakit_result
    assert inner is not None
    iterations = len(inner.proposals)
    assert len(rec.names("on_optimization_start")) == 1
    end = rec.names("on_optimization_end")
    assert len(end) == 1 and end[0]["best_candidate_idx"] == result.best_idx
    assert end[0]["total_metric_calls"] == result.total_metric_calls
    starts = [e["iteration"] for e in rec.names("on_iteration_start")]
    assert starts == list(range(1, iterations + 1))
    assert [e["iteration"] for e in rec.names("on_iteration_end")] == starts
    accepted = [p for p in inner.proposals if p.decision == "accepted"]
    assert len(rec.names("on_candidate_accepted")) == len(accepted)
    assert len(rec.names("on_valset_evaluated")) == result.num_candidates
    rejected = [p for p in inner.proposals if p.decision == "rejected" and p.child_scores]
    assert len(rec.names("on_candidate_rejected")) == len(rejected)
    assert len(rec.names("on_proposal_start")) == len(rec.names("on_proposal_end")) > 0
    sampled = rec.names("on_minibatch_sampled")
    assert sampled and all(e["trainset_size"] == len(task.trainset) for e in sampled)
    assert all(1 <= len(e["minibatch_ids"]) <= 3 for e in sampled)  # cached ones not re-run
    assert all(0 <= i < len(task.trainset) for e in sampled for i in e["minibatch_ids"])
    minibatches = [n for n, traces in adapter.evaluate_calls if traces]
    assert [e["batch_size"] for e in rec.names("on_evaluation_start")] == minibatches
    assert len(rec.names("on_evaluation_end")) == len(minibatches)
    # As in gepa: one budget event per evaluation after the seed's, not one per call.
    budget = rec.names("on_budget_updated")
    sizes = [n for n, _ in adapter.evaluate_calls]
    assert [e["metric_calls_delta"] for e in budget] == sizes[1:]
    assert budget[0]["metric_calls_used"] - budget[0]["metric_calls_delta"] == len(task.valset)
    assert budget[-1]["metric_calls_used"] == result.total_metric_calls
    assert "callback bug" in caplog.text


# -- selectors -------------------------------------------------------------------------


def test_a_component_selector_function_with_gepas_protocol_reads_the_state() -> None:
    seen: list[tuple[int, int, int]] = []

    def alternating_half_selector(
        state: Any, trajectories: list[Any], subsample_scores: list[float], idx: int, cand: Any
    ) -> list[str]:
        seen.append((state.i, len(state.program_candidates), len(trajectories)))
        names = list(cand)
        return names[: len(names) // 2] if state.i % 2 == 0 else names[len(names) // 2 :]

    result = run_toy(max_metric_calls=150, module_selector=alternating_half_selector)
    inner = result.gepakit_result
    assert inner is not None
    reflected = [p for p in inner.proposals if p.components]
    assert seen and all(n == 3 for _, _, n in seen)
    assert [s[0] for s in seen] == sorted(s[0] for s in seen)
    assert {p.components for p in reflected} == {("plan",), ("style",)}


def test_gepas_selector_objects() -> None:
    comp = pytest.importorskip("gepa.strategies.component_selector")
    cand = pytest.importorskip("gepa.strategies.candidate_selector")
    result = run_toy(
        max_metric_calls=120,
        module_selector=comp.AllReflectionComponentSelector(),
        candidate_selection_strategy=cand.CurrentBestCandidateSelector(),
    )
    inner = result.gepakit_result
    assert inner is not None
    assert all(p.components == ("plan", "style") for p in inner.proposals if p.components)
    import random

    rr = run_toy(
        max_metric_calls=120,
        module_selector=comp.RoundRobinReflectionComponentSelector(),
        candidate_selection_strategy=cand.TopKParetoCandidateSelector(k=2, rng=random.Random(0))
        if "top_k" in inspect.signature(gepakit.optimize).parameters
        else cand.ParetoCandidateSelector(rng=random.Random(0)),
    )
    assert rr.val_aggregate_scores[rr.best_idx] == 1.0


def test_a_custom_candidate_selector_object_gets_a_state_with_the_pool() -> None:
    views: list[tuple[int, int, int]] = []

    class Newest:
        def select_candidate_idx(self, state: Any) -> int:
            front = state.get_pareto_front_mapping()
            views.append(
                (len(state.program_candidates), len(state.program_full_scores_val_set), len(front))
            )
            return len(state.program_candidates) - 1

    result = run_toy(max_metric_calls=150, candidate_selection_strategy=Newest())
    assert views and all(a == b and c == 6 for a, b, c in views)
    assert result.val_aggregate_scores[result.best_idx] == 1.0


# -- run_dir ---------------------------------------------------------------------------


def test_a_run_dir_resumes_with_the_same_call(tmp_path: Path) -> None:
    first = run_toy(max_metric_calls=60, run_dir=str(tmp_path))
    task = two_part_task()
    adapter = TwoPartAdapter(task)
    again = gepa.optimize(
        seed_candidate=task.seed_candidate,
        trainset=task.trainset,
        valset=task.valset,
        adapter=adapter,
        reflection_lm=task.reflect,
        max_metric_calls=60,
        run_dir=str(tmp_path),
    )
    assert adapter.evaluate_calls == []
    assert again.to_dict() == first.to_dict()


def test_a_run_dir_written_by_gepa_is_detected(tmp_path: Path) -> None:
    real = pytest.importorskip("gepa")
    gepa_dir = tmp_path / "gepa_run"
    real.optimize(
        seed_candidate={"system_prompt": "Answer."},
        trainset=qa_items()[:2],
        task_lm=fake_task_lm,
        reflection_lm=lambda prompt: fenced("Answer the question."),
        max_metric_calls=4,
        run_dir=str(gepa_dir),
    )
    assert (gepa_dir / "gepa_state.bin").exists()
    before = sorted(p.name for p in gepa_dir.iterdir())
    with pytest.raises(ConfigError, match="written by the gepa package") as info:
        gepa.optimize(
            seed_candidate={"system_prompt": "Answer."},
            trainset=qa_items()[:2],
            task_lm=fake_task_lm,
            reflection_lm=fake_reflection_lm,
            max_metric_calls=10,
            run_dir=str(gepa_dir),
        )
    assert "cannot resume" in str(info.value)
    with pytest.raises(ConfigError, match="written by the gepa package"):
        gepakit.optimize(
            {"system_prompt": "Answer."},
            qa_items(),
            qa_items(),
            evaluator=lambda c, e: 1.0,
            reflection_lm=fake_reflection_lm,
            max_metric_calls=20,
            run_dir=gepa_dir,
        )
    assert sorted(p.name for p in gepa_dir.iterdir()) == before  # left untouched


# -- options gepakit cannot honour ----------------------------------------------------


def test_unsupported_options_are_refused_clearly() -> None:
    for option in ("sampling_strategy", "selection_strategy", "reflection_strategy"):
        with pytest.raises(ConfigError, match=f"does not support {option}"):
            run_toy(max_metric_calls=60, **{option: object()})

    class Criterion:
        def should_accept(self, proposal: Any, state: Any) -> bool:
            return True

    with pytest.raises(ConfigError, match="acceptance_criterion"):
        run_toy(max_metric_calls=60, acceptance_criterion=Criterion())
    with pytest.raises(ConfigError, match="reflection_minibatch_size is only accepted"):
        run_toy(max_metric_calls=60, batch_sampler=object(), reflection_minibatch_size=2)
    with pytest.raises(ConfigError, match="task_lm= and evaluator="):
        run_toy(max_metric_calls=60, task_lm="openai/gpt-4.1-mini")
    if "frontier_type" not in inspect.signature(gepakit.optimize).parameters:
        with pytest.raises(ConfigError, match="frontier_type='objective'"):
            run_toy(max_metric_calls=60, frontier_type="objective")


def test_options_without_meaning_here_warn_once_each() -> None:
    with pytest.warns(UserWarning, match="use_cloudpickle has no effect"):
        run_toy(max_metric_calls=20, use_cloudpickle=True)
    # gepakit.optimize has merge_val_overlap_floor: passed on, no warning (warnings fail)
    run_toy(max_metric_calls=20, merge_val_overlap_floor=2)


def test_the_exact_budget_is_announced_once(caplog: pytest.LogCaptureFixture) -> None:
    module: Any = sys.modules["gepakit.integrations.gepa.optimize"]
    module._announced = False
    with caplog.at_level(logging.INFO, logger="gepakit"):
        run_toy(max_metric_calls=20)
        run_toy(max_metric_calls=20)
    assert caplog.text.count("max_metric_calls is exact here") == 1


def test_a_gepa_logger_receives_the_run_log() -> None:
    lines: list[str] = []

    class Logger:
        def log(self, message: str) -> None:
            lines.append(message)

    run_toy(logger=Logger(), stop_callbacks=lambda state: state.i >= 0)
    assert "gepa stopper function asked to stop" in lines
    assert not logging.getLogger("gepakit").handlers  # removed after the run


# -- model names, data loaders -------------------------------------------------------


def test_model_names_are_resolved_by_gepakit_with_the_run_ledger(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gepakit.lm.resolve as resolve

    made: list[tuple[Any, str, bool]] = []
    sent: list[dict[str, Any]] = []

    class FakeLM:
        """A fake LM object: the task answers Paris, the reflection adds a line."""

        def __init__(self, role: str) -> None:
            self.role = role

        def complete(self, messages: list[dict[str, Any]], **params: Any) -> Any:
            sent.append({"role": self.role, **params})
            if self.role == "task":
                return Completion(text="### Paris")
            return Completion(text=fenced("Answer. France=Paris"))

    def fake_resolve(spec: Any, *, role: str, ledger: Any = None, **kw: Any) -> Any:
        made.append((spec, role, ledger is not None))
        return FakeLM(role)

    monkeypatch.setattr(resolve, "resolve_lm", fake_resolve)
    result = gepa.optimize(
        seed_candidate={"system_prompt": "Answer."},
        trainset=qa_items()[:2],
        task_lm="openai/gpt-4.1-mini",
        reflection_lm="openai/gpt-5",
        reflection_lm_kwargs={"temperature": 1.0, "max_tokens": 32000},
        max_metric_calls=12,
    )
    assert ("openai/gpt-4.1-mini", "task", True) in made
    assert ("openai/gpt-5", "reflection", True) in made
    reflection_calls = [s for s in sent if s["role"] == "reflection"]
    assert reflection_calls
    assert all(s["temperature"] == 1.0 and s["max_tokens"] == 32000 for s in reflection_calls)
    assert result.val_aggregate_scores[0] == 0.5


class Loader:
    """A gepa-style DataLoader (all_ids / fetch) with string ids."""

    def __init__(self, items: dict[str, Any]) -> None:
        self.items = items

    def all_ids(self) -> list[str]:
        return list(self.items)

    def fetch(self, ids: list[str]) -> list[Any]:
        return [self.items[i] for i in ids]

    def __len__(self) -> int:
        return len(self.items)


def test_data_loaders_keep_their_ids_in_the_result() -> None:
    task = two_part_task()
    val = Loader({f"val-{i}": ex for i, ex in enumerate(task.valset)})
    result = gepa.optimize(
        seed_candidate=task.seed_candidate,
        trainset=Loader({f"tr-{i}": ex for i, ex in enumerate(task.trainset)}),
        valset=val,
        adapter=TwoPartAdapter(task),
        reflection_lm=task.reflect,
        max_metric_calls=60,
    )
    assert set(result.per_val_instance_best_candidates) == set(val.all_ids())
    assert set(result.val_subscores[0]) == set(val.all_ids())


def test_a_callable_reflection_lm_is_counted_in_the_usage() -> None:
    result = run_toy(max_metric_calls=60)
    inner = result.gepakit_result
    assert inner is not None
    reflected = [p for p in inner.proposals if p.replies]
    usage = inner.usage["roles"]["reflection"]
    assert usage["calls"] >= len(reflected) > 0


def test_invalid_values_are_named_as_the_gepa_user_wrote_them() -> None:
    with pytest.raises(ConfigError, match=r"^reflection_minibatch_size .*got 0"):
        run_toy(max_metric_calls=60, reflection_minibatch_size=0)
    with pytest.raises(ConfigError, match=r"^display_progress_bar .*got 'yes'"):
        run_toy(max_metric_calls=60, display_progress_bar="yes")


def test_a_bad_shared_option_gives_one_error_in_gepas_words() -> None:
    with pytest.raises(ConfigError) as info:
        run_toy(max_metric_calls=60, cache_evaluation="yes")
    assert str(info.value) == "cache_evaluation must be True or False, got 'yes'"
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_each_shared_option_is_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from gepakit.integrations.gepa.optimize import RENAMES, SHARED_OPTIONS
    from gepakit.options import OPTIONS, Check

    checked: dict[str, list[Any]] = {}

    def counted(name: str) -> Check:
        check = OPTIONS[name].check

        def problem(value: Any) -> str | None:
            checked.setdefault(name, []).append(value)
            return check.problem(value)

        return dataclasses.replace(check, problem=problem)

    names = [RENAMES.get(n, n) for n in SHARED_OPTIONS] + ["reflection_minibatch_size"]
    for name in names:
        monkeypatch.setitem(OPTIONS, name, dataclasses.replace(OPTIONS[name], check=counted(name)))
    reflect = ScriptedLM(lambda prompt: "never")
    run_toy(max_metric_calls=60, reflection_lm=reflect, cache_evaluation=True)
    # The front door passes a proposer on, so gepakit.optimize checks its own default.
    assert checked.pop("reflection_lm") == [reflect, None]
    assert {name: len(values) for name, values in checked.items()} == dict.fromkeys(
        [n for n in names if n != "reflection_lm"], 1
    )


def test_the_gepa_and_dspy_selector_bridges_differ_only_in_what_they_hand_over() -> None:
    from gepakit.engine.selection import ComponentView
    from gepakit.integrations.dspy.selectors import GepaProtocolSelector
    from gepakit.integrations.gepa.state import GEPAStateView
    from gepakit.integrations.gepa.strategies import ComponentSelectorBridge
    from gepakit.types import Rollout

    calls: list[tuple[Any, ...]] = []

    def pick(state: Any, trajectories: Any, scores: Any, idx: int, candidate: Any) -> Any:
        calls.append((state, trajectories, scores, idx, candidate))
        return ["nope"] if idx else ["b"]

    state = GEPAStateView({"a": "x", "b": "y"}, lambda eid: eid)
    rollout = Rollout(candidate_id="c", example_id="e1", split="train", score=0.5, trace="t")
    view = ComponentView(candidate_index=0, candidate={"a": "x", "b": "y"}, rollouts=[rollout])
    gepa_bridge = ComponentSelectorBridge(pick, state)
    dspy_bridge = GepaProtocolSelector(pick, ["b", "a"], state, lambda: None)
    assert gepa_bridge.select(view, {}) == dspy_bridge.select(view, {}) == ["b"]
    (s1, t1, sc1, i1, c1), (s2, t2, sc2, i2, c2) = calls
    assert s1 is s2 is state and sc1 == sc2 == [0.5] and i1 == i2 == 0
    assert t1 == ["t"] and c1 == {"a": "x", "b": "y"}
    assert t2 == [{"example": "e1", "prediction": None, "score": 0.5, "trace": "t"}]
    assert list(c2) == ["b", "a"]  # program order
    bad = ComponentView(candidate_index=1, candidate=view.candidate, rollouts=[rollout])
    with pytest.raises(ValueError, match=r"^module_selector \S*pick returned"):
        gepa_bridge.select(bad, {})
    with pytest.raises(ValueError, match=r"^component selector returned"):
        dspy_bridge.select(bad, {})
