"""Whole runs: budget accounting, determinism, stopping, failures, merge, proposers."""

from __future__ import annotations

import itertools
import math
import random
import warnings
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gepakit
from gepakit import EvaluatorError, Score, optimize
from gepakit.engine.budget import Budget
from gepakit.engine.loop import MAX_FREE_PROPOSALS, Driver
from gepakit.engine.protocols import EventSink
from gepakit.engine.reflection import CallableProposer
from gepakit.engine.rollout import RolloutRunner
from gepakit.engine.state import EngineState, SearchConfig
from gepakit.engine.stopping import Clock, Timeout
from gepakit.executors.local import InlineExecutor
from gepakit.store.memory import MemoryStore
from gepakit.testing import ScriptedLM, ToyTask, fenced, parse_reflection_prompt
from gepakit.types import Candidate, Example


def toy_run(task: ToyTask, **overrides: Any) -> gepakit.Result:
    args: dict[str, Any] = {
        "evaluator": task.evaluate,
        "reflection_lm": task.reflect,
        "max_metric_calls": 120,
        "seed": 0,
    }
    args.update(overrides)
    return optimize(task.seed_candidate, task.trainset, task.valset, **args)


# -- budget ------------------------------------------------------------------------


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    val_size=st.integers(1, 6),
    train_size=st.integers(1, 8),
    extra=st.integers(0, 90),
    minibatch=st.integers(1, 5),
    workers=st.integers(1, 4),
    proposals=st.integers(1, 3),
    components=st.integers(1, 2),
    use_merge=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_a_run_never_exceeds_the_budget_and_reports_what_it_used(
    val_size: int,
    train_size: int,
    extra: int,
    minibatch: int,
    workers: int,
    proposals: int,
    components: int,
    use_merge: bool,
    seed: int,
) -> None:
    task = ToyTask(
        num_rules=5,
        train_size=train_size,
        val_size=val_size,
        components=[f"c{i}" for i in range(components)],
        needs_per_example=2,
    )
    limit = val_size + extra
    counter = itertools.count()

    def reflect(prompt: str) -> str:
        # Fix what the feedback names, plus a unique tag: every child is new text.
        parsed = parse_reflection_prompt(prompt)
        text = task.fix(parsed) or parsed.current_text
        return fenced(f"{text} #{next(counter)}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tiny budgets warn on purpose
        result = toy_run(
            task,
            max_metric_calls=limit,
            reflection_minibatch_size=minibatch,
            workers=workers,
            max_concurrent_proposals=proposals,
            use_merge=use_merge,
            seed=seed,
            reflection_lm=reflect,
            skip_perfect_score=False,
        )
    assert task.calls == result.total_metric_calls
    assert result.total_metric_calls <= limit
    assert result.max_metric_calls == limit
    assert result.stop_reason
    assert list(result.discovery_eval_counts) == sorted(result.discovery_eval_counts)
    assert all(c <= limit for c in result.discovery_eval_counts)


class BudgetWatch(EventSink):
    """Checks `used <= limit` at every budget update."""

    def __init__(self) -> None:
        self.updates: list[tuple[int, int]] = []

    def budget_update(self, used: int, limit: int, cache_hits: int) -> None:
        assert used <= limit
        self.updates.append((used, limit))


def test_budget_updates_count_up_to_the_total() -> None:
    task, watch = ToyTask(), BudgetWatch()
    result = toy_run(task, callbacks=[watch], workers=3, max_concurrent_proposals=2)
    used = [u for u, _ in watch.updates]
    assert used == list(range(1, result.total_metric_calls + 1))


def test_cache_hits_are_free() -> None:
    # One train example and minibatch 1: every later look at a parent is a cache hit.
    task = ToyTask(train_size=1, val_size=2)
    result = toy_run(task, max_metric_calls=40)
    assert result.cache_hits > 0
    assert task.calls == result.total_metric_calls


# -- determinism -------------------------------------------------------------------


@pytest.mark.parametrize(("workers", "proposals"), [(1, 1), (4, 1)])
def test_same_seed_same_result(workers: int, proposals: int) -> None:
    def once() -> dict[str, Any]:
        task = ToyTask(num_rules=6, components=("a", "b"), needs_per_example=2)
        result = toy_run(
            task, max_metric_calls=150, workers=workers, max_concurrent_proposals=proposals
        )
        return result.to_dict()

    first = once()
    assert first == once()
    assert first["total_metric_calls"] > 0


def test_different_seeds_may_differ_but_both_stay_within_budget() -> None:
    results = [toy_run(ToyTask(num_rules=6), seed=s) for s in (0, 1)]
    assert all(r.total_metric_calls <= 120 for r in results)


# -- end to end --------------------------------------------------------------------


def test_reflection_that_fixes_reported_failures_reaches_a_perfect_score() -> None:
    task = ToyTask(num_rules=6, train_size=12, val_size=12, components=("a", "b"))
    lm = ScriptedLM(task.reflect)
    result = toy_run(task, reflection_lm=lm, max_metric_calls=400)
    seed_score = result.val_aggregate_scores[0]
    assert seed_score == 0.0
    assert result.best_score >= 0.95
    assert task.score(result.best_candidate, task.valset[0]).score == 1.0
    assert lm.calls >= 2
    lineage = result.lineage()
    assert lineage[0] == 0 and lineage[-1] == result.best_idx
    accepted = [p for p in result.proposals if p.decision == "accepted"]
    assert len(accepted) == result.num_candidates - 1


def test_async_evaluator_with_four_workers() -> None:
    task = ToyTask(num_rules=4, train_size=6, val_size=6)
    result = toy_run(task, evaluator=task.aevaluate, workers=4, max_metric_calls=100)
    assert result.best_score == 1.0
    assert task.calls == result.total_metric_calls


def test_custom_instruction_proposer_replaces_the_reflection_lm() -> None:
    task = ToyTask(num_rules=4, components=("a", "b"))
    result = toy_run(task, reflection_lm=None, instruction_proposer=task.proposer)
    assert result.best_score == 1.0
    assert all(not p.prompts for p in result.proposals)


def test_per_component_prompt_templates() -> None:
    task = ToyTask(components=("a", "b"))
    lm = ScriptedLM(lambda prompt: fenced(f"new text {len(prompt)}"))
    toy_run(
        task,
        reflection_lm=lm,
        reflection_prompt_template={"b": "B-ONLY {component}: {current_text}"},
        max_metric_calls=60,
        candidate_selection_strategy="current_best",
        skip_perfect_score=False,
    )
    b_prompts = [p for p in lm.prompts if p.startswith("B-ONLY")]
    a_prompts = [p for p in lm.prompts if not p.startswith("B-ONLY")]
    assert b_prompts and a_prompts
    assert all(parse_reflection_prompt(p).component == "a" for p in a_prompts)


def test_component_selector_all_rewrites_every_component() -> None:
    task = ToyTask(components=("a", "b"), num_rules=4, needs_per_example=2)
    result = toy_run(task, component_selector="all", max_metric_calls=40)
    reflective = [p for p in result.proposals if p.kind == "reflection" and p.components]
    assert reflective and all(p.components == ("a", "b") for p in reflective)


def test_callable_selectors() -> None:
    task = ToyTask(components=("a", "b"))
    picked: list[int] = []

    def pick(candidates: Any, scores: Any, rng: random.Random) -> int:
        picked.append(len(scores) - 1)
        return len(scores) - 1  # always the newest candidate

    result = toy_run(
        task,
        candidate_selection_strategy=pick,
        component_selector=lambda cand, rollouts: ["b"],
        max_metric_calls=60,
    )
    assert picked
    assert all(p.components in ((), ("b",)) for p in result.proposals)


def test_a_callable_selector_returning_garbage_fails_the_run_clearly() -> None:
    task = ToyTask()
    with pytest.raises(ValueError, match="candidate selector returned"):
        toy_run(task, candidate_selection_strategy=lambda c, s, r: 99)


# -- stopping ----------------------------------------------------------------------


def test_stop_after_no_improvement() -> None:
    task = ToyTask()
    counter = iter(range(10_000))
    useless = ScriptedLM(lambda prompt: fenced(f"Useless variant {next(counter)}."))
    result = toy_run(task, reflection_lm=useless, stop_after_no_improvement=3)
    assert result.stop_reason == "no improvement in 3 proposals"
    assert len(result.proposals) == 3
    assert result.num_candidates == 1


def test_stop_at_score_threshold() -> None:
    task = ToyTask(num_rules=6, val_size=6)
    result = toy_run(task, score_threshold=1.0, max_metric_calls=500)
    assert result.best_score == 1.0
    assert "threshold" in result.stop_reason
    assert result.total_metric_calls < 500


def test_stop_callback() -> None:
    task = ToyTask(num_rules=6)
    result = toy_run(task, stop_callback=lambda view: view.proposals >= 2, max_metric_calls=500)
    assert result.stop_reason == "stop callback returned True"
    assert len(result.proposals) == 2


def test_timeout_with_a_fake_clock() -> None:
    task = ToyTask(num_rules=6)
    ticks = iter(range(1000))  # every look at the clock advances it by one second
    train = [Example(id=e["id"], data=e) for e in task.trainset]
    val = [Example(id=e["id"], data=e) for e in task.valset]
    config = SearchConfig(stop_conditions=(Timeout(3.5),))
    state = EngineState(Candidate.of(task.seed_candidate), train, val, config, Budget(1000))
    driver = Driver(
        state,
        run_rollout=RolloutRunner(task.evaluate),
        executor=InlineExecutor(),
        proposer=CallableProposer(task.proposer),
        proposer_executor=InlineExecutor(),
        store=MemoryStore(),
        sink=EventSink(),
        clock=Clock(lambda: float(next(ticks))),
    )
    driver.run()
    assert state.stop_reason == "timeout of 3.5s reached"
    # Looked at before each proposal and before each child's valset pass: t = 1 (start),
    # 2 (valset pass), 3 (start), 4 (the second child's valset pass: timed out, dropped).
    assert len(state.proposals) == 1


def test_a_search_that_only_revisits_cached_work_stops_as_stalled() -> None:
    # A single train example: after the first proposal every minibatch is cached, and the
    # reflection always repeats the same rejected text, so nothing costs a metric call.
    task = ToyTask(train_size=1, val_size=2)
    lm = ScriptedLM(lambda prompt: fenced("The same useless text."))
    result = toy_run(task, reflection_lm=lm, max_metric_calls=1000)
    assert result.stop_reason.startswith("stalled")
    assert len(result.proposals) >= MAX_FREE_PROPOSALS
    assert result.total_metric_calls < 20


def test_a_perfect_parent_is_skipped_without_asking_the_lm() -> None:
    task = ToyTask()
    lm = ScriptedLM([])  # any call would fail the proposal
    result = optimize(
        task.solved_candidate(),
        task.trainset,
        task.valset,
        evaluator=task.evaluate,
        reflection_lm=lm,
        max_metric_calls=40,
        stop_after_no_improvement=4,
    )
    assert lm.calls == 0
    assert {p.decision for p in result.proposals} == {"skipped"}
    assert all("perfectly" in p.reason for p in result.proposals)

    lm2 = ScriptedLM(lambda prompt: fenced("another text"))
    optimize(
        task.solved_candidate(),
        task.trainset,
        task.valset,
        evaluator=task.evaluate,
        reflection_lm=lm2,
        max_metric_calls=40,
        skip_perfect_score=False,
        stop_after_no_improvement=2,
    )
    assert lm2.calls == 2


# -- failures ----------------------------------------------------------------------


def crashing(task: ToyTask, bad_id: str, value: Any = None) -> Any:
    def evaluate(candidate: Mapping[str, str], example: Mapping[str, Any]) -> Any:
        score = task.evaluate(candidate, example)
        if example["id"] == bad_id:
            if value is None:
                raise RuntimeError("boom")
            return value
        return score

    return evaluate


def test_a_crashing_evaluator_scores_failure_score_and_the_run_goes_on() -> None:
    task, store = ToyTask(train_size=4, val_size=4), MemoryStore()
    lm = ScriptedLM(task.reflect)
    result = toy_run(
        task,
        evaluator=crashing(task, "v1"),
        reflection_lm=lm,
        failure_score=-1.0,
        store=store,
        max_metric_calls=60,
    )
    assert all(scores["v1"] == -1.0 for scores in result.val_subscores)
    failed = [r for r in store.rollouts.values() if r.example_id == "v1"]
    assert failed and all("RuntimeError: boom" in (r.error or "") for r in failed)
    assert result.best_score > result.val_aggregate_scores[0]
    assert task.calls == result.total_metric_calls


class FailingOnExecutor:
    """Runs rollouts inline, except that the executor itself fails for one example id."""

    def __init__(self, bad_id: str) -> None:
        self.bad_id = bad_id
        self.inner = InlineExecutor()

    def submit(self, fn: Any, /, *args: Any) -> Any:
        if args[1].id == self.bad_id:
            failed: Future[Any] = Future()
            failed.set_exception(ConnectionError("worker lost"))
            return failed
        return self.inner.submit(fn, *args)

    def shutdown(self) -> None:
        self.inner.shutdown()


def test_an_executor_failure_scores_the_configured_failure_score() -> None:
    task, store = ToyTask(train_size=4, val_size=4), MemoryStore()
    result = toy_run(task, executor=FailingOnExecutor("v2"), failure_score=-2.0, store=store)
    assert all(scores["v2"] == -2.0 for scores in result.val_subscores)
    failed = [r for r in store.rollouts.values() if r.example_id == "v2"]
    assert failed and all("executor failed" in (r.error or "") for r in failed)


def test_the_failure_is_shown_to_the_reflection_lm() -> None:
    task = ToyTask(train_size=2, val_size=2)
    lm = ScriptedLM(task.reflect)
    toy_run(
        task,
        evaluator=crashing(task, "t0"),
        reflection_lm=lm,
        reflection_minibatch_size=2,
        max_metric_calls=30,
    )
    assert any("The system failed on this example: RuntimeError: boom" in p for p in lm.prompts)


def test_raise_on_exception_stops_with_evaluator_error() -> None:
    task = ToyTask()
    with pytest.raises(EvaluatorError, match="boom") as info:
        toy_run(task, evaluator=crashing(task, "v2"), raise_on_exception=True, workers=2)
    assert info.value.example_id == "v2"


@pytest.mark.parametrize("bad", [math.nan, math.inf, "high", Score(math.nan)])
def test_invalid_scores_become_failures(bad: Any) -> None:
    task, store = ToyTask(train_size=3, val_size=3), MemoryStore()
    result = toy_run(task, evaluator=crashing(task, "v0", bad), store=store, max_metric_calls=30)
    assert result.val_subscores[0]["v0"] == 0.0
    rollout = store.rollouts[(Candidate.of(task.seed_candidate).id, "v0", "val")]
    assert rollout.error
    assert gepakit.Result.from_json(result.to_json()).to_dict() == result.to_dict()


def test_a_failing_reflection_lm_fails_the_proposal_not_the_run() -> None:
    task = ToyTask()
    lm = ScriptedLM([])  # raises LMError on every call
    result = toy_run(task, reflection_lm=lm, stop_after_no_improvement=3)
    assert [p.decision for p in result.proposals] == ["failed"] * 3
    assert "LMError" in result.proposals[0].reason


# -- reflection details --------------------------------------------------------------


def test_rejected_texts_are_shown_in_the_next_prompt_for_the_same_parent() -> None:
    task = ToyTask(num_rules=4, train_size=4, val_size=4)
    replies = iter([fenced("Useless one."), fenced("Useless two."), fenced("Useless three.")])
    lm = ScriptedLM(lambda prompt: next(replies))
    toy_run(
        task,
        reflection_lm=lm,
        candidate_selection_strategy="current_best",
        stop_after_no_improvement=3,
    )
    shown = [parse_reflection_prompt(p).rejected for p in lm.prompts]
    assert shown == [(), ("Useless one.",), ("Useless one.", "Useless two.")]


# -- merge, objectives, outputs ---------------------------------------------------------


def test_merge_combines_two_lineages_end_to_end() -> None:
    # Always reflect on the seed: round robin alternates a and b, so two lineages change
    # different components of the same ancestor, which merge can combine.
    task = ToyTask(num_rules=4, train_size=8, val_size=8, components=("a", "b"))
    result = toy_run(
        task,
        candidate_selection_strategy=lambda c, s, r: 0,
        max_metric_calls=300,
        reflection_minibatch_size=4,
    )
    merges = [p for p in result.proposals if p.kind == "merge"]
    assert merges
    assert "merge" in result.origins
    index = result.origins.index("merge")
    first, second = result.parents[index]
    merged = result.candidates[index]
    for name in ("a", "b"):
        assert merged[name] in (result.candidates[first][name], result.candidates[second][name])
    child_id = gepakit.Candidate.of(merged).id
    assert any(p.child_id == child_id and p.decision == "accepted" for p in merges)


def test_merges_kept_never_exceed_max_merge_invocations() -> None:
    task = ToyTask(num_rules=4, train_size=8, val_size=8, components=("a", "b"))
    result = toy_run(
        task,
        candidate_selection_strategy=lambda c, s, r: 0,
        max_metric_calls=300,
        reflection_minibatch_size=4,
        max_merge_invocations=1,
    )
    assert result.origins.count("merge") == 1
    kept = [p for p in result.proposals if p.kind == "merge" and p.decision == "accepted"]
    assert len(kept) == 1


def test_no_merge_when_disabled() -> None:
    task = ToyTask(num_rules=4, components=("a", "b"))
    result = toy_run(
        task, candidate_selection_strategy=lambda c, s, r: 0, use_merge=False, max_metric_calls=200
    )
    assert all(p.kind == "reflection" for p in result.proposals)


@pytest.mark.parametrize(
    ("frontier_type", "slow_keys", "fast_keys", "fast_selectable"),
    [
        ("instance", {"v0", "v1"}, set(), False),
        ("objective", {"::score"}, {"::speed"}, True),
        ("hybrid", {"v0", "v1", "::score"}, {"::speed"}, True),
        ("cartesian", {"v0::score", "v1::score"}, {"v0::speed", "v1::speed"}, True),
    ],
)
def test_frontier_types_key_the_frontier_like_gepa(
    frontier_type: str, slow_keys: set[str], fast_keys: set[str], fast_selectable: bool
) -> None:
    val = [Example(id="v0", data={}), Example(id="v1", data={})]
    cfg = SearchConfig(frontier_type=frontier_type)
    state = EngineState(Candidate.of({"p": "x"}), val, val, cfg, Budget(10))
    from gepakit.types import Rollout

    def rollouts(cand: Candidate, main: float, speed: float) -> list[Rollout]:
        objectives = {"speed": speed}
        return [
            Rollout(
                candidate_id=cand.id,
                example_id=e.id,
                split="val",
                score=main,
                objectives=objectives,
            )
            for e in val
        ]

    seed, fast = Candidate.of({"p": "x"}), Candidate.of({"p": "fast"})
    state.add_candidate(seed, (), "seed", rollouts(seed, 1.0, 0.0))
    state.add_candidate(fast, (0,), "reflection", rollouts(fast, 0.5, 1.0))
    leaders = state.frontier.leader_sets()
    assert {k for k, v in leaders.items() if v == {0}} == slow_keys
    assert {k for k, v in leaders.items() if v == {1}} == fast_keys
    # With objective keys, the worse-scoring but faster candidate stays selectable.
    assert (1 in state.frontier.candidates()) is fast_selectable
    assert state.best_idx == 0
    assert state.instances.leaders("v0") == {0}


def test_objectives_run_end_to_end() -> None:
    task = ToyTask(num_rules=4)

    def evaluate(candidate: Mapping[str, str], example: Mapping[str, Any]) -> Score:
        base = task.evaluate(candidate, example)
        brevity = 1.0 / len(candidate["instruction"])
        return Score(base.score, feedback=base.feedback, objectives={"brevity": brevity})

    result = toy_run(task, evaluator=evaluate)
    assert set(result.per_val_instance_best_candidates) == {e["id"] for e in task.valset}
    assert result.best_score == 1.0


def test_track_best_outputs_lists_the_leaders_outputs() -> None:
    task = ToyTask(num_rules=4, components=("a", "b"))
    result = toy_run(task, track_best_outputs=True)
    outputs = result.best_outputs_valset
    assert outputs is not None
    assert set(outputs) == {e["id"] for e in task.valset}
    for eid, entries in outputs.items():
        assert {i for i, _ in entries} == set(result.per_val_instance_best_candidates[eid])
        best = max(s[eid] for s in result.val_subscores)
        assert all(result.val_subscores[i][eid] == best for i, _ in entries)
    assert toy_run(ToyTask()).best_outputs_valset is None


@pytest.mark.parametrize("executor", ["thread", "inline"])
def test_async_evaluator_on_a_non_asyncio_executor(executor: str) -> None:
    task = ToyTask(num_rules=4)
    result = toy_run(task, evaluator=task.aevaluate, executor=executor, workers=2)
    assert result.best_score == 1.0
    assert task.calls == result.total_metric_calls


def test_an_accepted_child_that_is_not_a_new_best_counts_against_patience() -> None:
    # Proposal 1 gives a new best; proposal 2 passes the minibatch but scores lower on
    # the valset: one proposal without improvement, so patience 1 stops the run there.
    table = {"seed": (0.0, 0.0), "A": (1.0, 1.0), "B": (2.0, 0.5), "C": (0.0, 0.0)}
    texts = iter(["A", "B", "C", "C2"])

    def evaluate(candidate: Mapping[str, str], example: Mapping[str, Any]) -> float:
        train, val = table.get(candidate["p"], (0.0, 0.0))
        return train if example["id"].startswith("t") else val

    def propose(candidate: Any, dataset: Any, components: Any) -> dict[str, str]:
        return {"p": next(texts)}

    result = optimize(
        {"p": "seed"},
        [{"id": "t0"}],
        [{"id": "v0"}, {"id": "v1"}],
        evaluator=evaluate,
        instruction_proposer=propose,
        candidate_selection_strategy="current_best",
        skip_perfect_score=False,
        stop_after_no_improvement=1,
        max_metric_calls=100,
    )
    assert [p.decision for p in result.proposals] == ["accepted", "accepted"]
    assert result.val_aggregate_scores == (0.0, 1.0, 0.5)
    assert result.stop_reason == "no improvement in 1 proposals"


# -- pipelined proposals -----------------------------------------------------------


class _SlowVal:
    """Wraps a ToyTask evaluator: val rollouts sleep, so children stay in validation."""

    def __init__(self, task: ToyTask) -> None:
        self.task = task

    def __call__(self, candidate: Mapping[str, str], example: Any) -> Score:
        if str(example["id"]).startswith("v"):
            import time

            time.sleep(0.01)
        return self.task.evaluate(candidate, example)


def test_concurrent_proposals_build_on_children_still_in_validation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    task = ToyTask(num_rules=8, components=("a",), needs_per_example=2)
    store = MemoryStore()
    selections: list[int] = []

    def best(candidates: Any, scores: Any, rng: random.Random) -> int:
        selections.append(len(candidates))
        return max(range(len(scores)), key=lambda i: (scores[i], -i))

    options: dict[str, Any] = {
        "evaluator": _SlowVal(task), "max_metric_calls": 300, "workers": 4,
        "max_concurrent_proposals": 3, "store": store, "use_merge": False,
        "candidate_selection_strategy": best,
    }  # fmt: skip
    # Every proposal here is accepted, so the live number in flight stays 1, plus one
    # while a child is in validation that no proposal builds on yet.
    result = toy_run(task, **options)
    ids = [Candidate(components=c).id for c in result.candidates]
    reflections = [p for p in result.proposals if p.kind == "reflection"]
    # Proposals started on a child still in validation skip the parent selector.
    assert len(selections) < len(reflections)
    for p in reflections:
        if p.decision == "accepted" and p.child_id is not None:
            child, parent = ids.index(p.child_id), ids.index(p.parent_ids[0])
            assert result.parents[child] == (parent,)  # lineage names the real parent
    # Replaying the stored history rebuilds the same result without any new call.
    calls = task.calls
    again = toy_run(task, **options)
    assert task.calls == calls
    assert {**again.to_dict(), "usage": None} == {**result.to_dict(), "usage": None}


def test_a_single_proposal_in_flight_never_speculates() -> None:
    task = ToyTask(num_rules=8, components=("a",), needs_per_example=2)
    result = toy_run(task, max_metric_calls=300, workers=4, use_merge=False)
    for i, parents in enumerate(result.parents):
        assert all(p < i for p in parents)


# -- full use of an exact budget -----------------------------------------------------


def useless_reflection() -> Any:
    """A reflection LM whose every reply is new text that fixes nothing (rejected)."""
    counter = itertools.count()

    def reflect(prompt: str) -> str:
        return fenced(f"{parse_reflection_prompt(prompt).current_text} #{next(counter)}")

    return reflect


def test_mostly_rejected_proposals_use_the_budget_to_within_a_minibatch_step() -> None:
    task = ToyTask(num_rules=4, train_size=60, val_size=30)
    result = toy_run(task, reflection_lm=useless_reflection(), max_metric_calls=100)
    assert result.total_metric_calls == task.calls
    # Stopped only when fewer calls than a minibatch step (2 x 3) were left.
    assert 100 - 6 < result.total_metric_calls <= 100
    assert len(result.proposals) >= 11  # 70 calls after the seed, 6 per rejected proposal
    assert "fewer than a minibatch step" in result.stop_reason


@pytest.mark.parametrize(("limit", "proposals"), [(2, 0), (3, 1), (4, 1), (5, 2)])
def test_tiny_budgets_still_make_a_proposal_where_a_minibatch_fits(
    limit: int, proposals: int
) -> None:
    task = ToyTask(num_rules=2, train_size=4, val_size=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the no-room warning at limit 2
        result = toy_run(
            task,
            reflection_lm=useless_reflection(),
            max_metric_calls=limit,
            reflection_minibatch_size=1,
            skip_perfect_score=False,
        )
    assert len(result.proposals) == proposals
    assert result.total_metric_calls == task.calls <= limit


def test_an_accepted_child_is_evaluated_on_as_much_of_the_valset_as_the_budget_allows() -> None:
    task = ToyTask(num_rules=2, train_size=4, val_size=10)
    # Seed on 10 val examples, 2 x 3 minibatch calls, then 4 calls left for the child.
    result = toy_run(task, max_metric_calls=20, use_merge=False)
    assert result.total_metric_calls == task.calls == 20
    assert result.num_candidates == 2
    assert len(result.val_subscores[1]) == 4  # a seeded subsample of what fit
    assert result.num_full_val_evals == 1
    accepted = [p for p in result.proposals if p.decision == "accepted"]
    assert accepted and "on 4 of 10 val examples" in accepted[0].reason
    scores = result.val_subscores[1]
    assert result.val_aggregate_scores[1] == pytest.approx(sum(scores.values()) / 4)


def test_a_run_does_not_admit_a_proposal_into_calls_a_running_one_may_need() -> None:
    st_ = EngineState(
        Candidate.of({"p": "x"}),
        [Example(id=f"t{i}", data={}) for i in range(6)],
        [Example(id=f"v{i}", data={}) for i in range(5)],
        SearchConfig(max_concurrent_proposals=2, use_merge=False),
        Budget(20),
    )
    driver = Driver(
        st_,
        run_rollout=lambda c, e, s: None,
        executor=InlineExecutor(),
        proposer=None,
        proposer_executor=InlineExecutor(),
        store=MemoryStore(),
        sink=EventSink(),
    )
    driver.seed_started = True
    seed = st_.seed_candidate
    st_.add_candidate(
        seed,
        (),
        "seed",
        [
            gepakit.Rollout(candidate_id=seed.id, example_id=f"v{i}", split="val", score=0.0)
            for i in range(5)
        ],
    )
    st_.budget.try_reserve(5)
    st_.budget.commit(5)
    first = driver._next_job()
    assert first is not None
    driver.running[0] = object()  # type: ignore[assignment]
    st_.job_need[0] = 3 + 5  # a running proposal: child minibatch + its val evaluation
    # 15 calls available, 8 of them kept for the running proposal: 7 >= 2 x 3 fits ...
    assert driver._next_job() is not None
    driver.running[1] = object()  # type: ignore[assignment]
    st_.job_need[1] = 8
    # ... but a third one would leave it short.
    assert driver._next_job() is None
    assert st_.stop_reason is None  # not exhausted: waiting for the running ones


def test_a_proposal_keeps_its_valset_free_only_once_its_child_passed_the_minibatch() -> None:
    from gepakit.engine.reflection import ProposerReply
    from gepakit.engine.steps import Await, Evaluate, reflective_job

    train = [Example(id=f"t{i}", data={}) for i in range(6)]
    val = [Example(id=f"v{i}", data={}) for i in range(5)]
    state = EngineState(
        Candidate.of({"p": "x"}), train, val, SearchConfig(max_concurrent_proposals=2), Budget(99)
    )
    seed = state.seed_candidate
    state.add_candidate(seed, (), "seed", _scored(seed, [e.id for e in val], 0.0, "val"))
    child = seed.replace_texts({"p": "y"})
    state.in_validation[child.id] = (child, 0)  # a sibling's child: the next one builds on it
    job = reflective_job(state, 7)
    req = next(job)
    assert isinstance(req, Evaluate) and req.candidate == child
    assert state.job_need[7] == 3  # its own child's minibatch, not a valset
    req = job.send(_scored(child, req.example_ids, 0.0, "train"))
    req = job.send(ProposerReply(texts={"p": "z"}))
    assert isinstance(req, Evaluate) and req.split == "train"
    assert state.job_need[7] == 0
    req = job.send(_scored(req.candidate, req.example_ids, 1.0, "train"))  # it passes
    assert isinstance(req, Await)  # its parent is still in validation ...
    assert state.job_need[7] == 5  # ... and its valset is now kept free


def _scored(cand: Candidate, ids: Any, score: float, split: Any) -> list[gepakit.Rollout]:
    return [
        gepakit.Rollout(candidate_id=cand.id, example_id=e, split=split, score=score) for e in ids
    ]
