"""gepa's search options on optimize(): frontier types, val policies, samplers, caps."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import gepakit
from gepakit import optimize
from gepakit.engine.valpolicy import ProgressiveEvaluation, SubsampleEvaluation, ValView
from gepakit.errors import ConfigError, ResumeMismatchError
from gepakit.lm.base import Completion, Message
from gepakit.testing import ToyTask, fenced, parse_reflection_prompt


def run(task: ToyTask, **overrides: Any) -> gepakit.Result:
    args: dict[str, Any] = {
        "evaluator": task.evaluate,
        "reflection_lm": task.reflect,
        "max_metric_calls": 150,
        "seed": 0,
    }
    args.update(overrides)
    return optimize(task.seed_candidate, task.trainset, task.valset, **args)


@pytest.mark.parametrize("frontier_type", ["instance", "objective", "hybrid", "cartesian"])
def test_every_frontier_type_runs_and_solves_the_toy_task(frontier_type: str) -> None:
    task = ToyTask(num_rules=3)
    result = run(task, frontier_type=frontier_type)
    assert result.best_score == 1.0
    assert task.calls == result.total_metric_calls <= 150
    assert set(result.per_val_instance_best_candidates) == {e["id"] for e in task.valset}


def test_a_subsample_policy_scores_children_on_part_of_the_valset() -> None:
    task = ToyTask(num_rules=4, val_size=20)
    result = run(task, val_evaluation_policy=SubsampleEvaluation(5), max_metric_calls=200)
    assert len(result.val_subscores[0]) == 20  # the seed: the whole valset
    children = result.val_subscores[1:]
    assert children and all(len(s) == 5 for s in children)
    assert result.num_full_val_evals == 1


def test_progressive_policy_stops_a_child_that_falls_behind_its_parent() -> None:
    policy = ProgressiveEvaluation(first=2)
    ids = [f"v{i}" for i in range(10)]
    parent = dict.fromkeys(ids, 1.0)

    def view(evaluated: dict[str, float]) -> ValView:
        return ValView(
            val_ids=ids, evaluated=evaluated, parent_scores=parent, rng=random.Random("x")
        )

    first = list(policy.next_ids(view({})))
    assert len(first) == 2
    assert list(policy.next_ids(view(dict.fromkeys(first, 0.0)))) == []  # behind: stop
    second = list(policy.next_ids(view(dict.fromkeys(first, 1.0))))  # level: go on, doubled
    assert len(second) == 2 and not set(second) & set(first)
    done = dict.fromkeys(ids, 1.0)
    assert list(policy.next_ids(view(done))) == []


def test_progressive_policy_evaluates_children_that_keep_up_on_the_whole_valset() -> None:
    task = ToyTask(num_rules=4, val_size=20)
    result = run(task, val_evaluation_policy="progressive", max_metric_calls=200)
    assert result.best_score == 1.0
    assert task.calls == result.total_metric_calls <= 200
    # Every child here beats its parent, so each chunk leads to the next, up to 20.
    assert [len(s) for s in result.val_subscores] == [20] * result.num_candidates


def test_top_k_pareto_selects_among_the_k_best() -> None:
    task = ToyTask(num_rules=4)
    result = run(task, candidate_selection_strategy="top_k_pareto", top_k=2)
    assert result.best_score == 1.0


def test_a_callable_batch_sampler_chooses_the_minibatches() -> None:
    task = ToyTask(num_rules=4, train_size=8)
    seen: list[tuple[str, ...]] = []

    def first_two(ids: list[str], rng: random.Random) -> list[str]:
        seen.append(tuple(ids[:2]))
        return ids[:2]

    result = run(task, batch_sampler=first_two, max_metric_calls=60)
    batches = {p.minibatch_ids for p in result.proposals if p.kind == "reflection"}
    assert batches == {("t0", "t1")}
    assert seen


def test_a_batch_sampler_returning_unknown_ids_fails_clearly() -> None:
    task = ToyTask(num_rules=4)
    with pytest.raises(ValueError, match="batch_sampler returned"):
        run(task, batch_sampler=lambda ids, rng: ["nope"])


def test_max_reflection_calls_caps_the_reflection_lm() -> None:
    task = ToyTask(num_rules=4, train_size=40, val_size=4)
    counter = itertools.count()

    def useless(prompt: str) -> str:
        return fenced(f"{parse_reflection_prompt(prompt).current_text} #{next(counter)}")

    result = run(task, reflection_lm=useless, max_reflection_calls=3, max_metric_calls=1000)
    assert "max_reflection_calls=3" in result.stop_reason
    assert len(result.proposals) == 3
    assert result.total_metric_calls < 1000


class FakePricedLM:
    """A fake LM reporting a cost of one cent per call; replies fix nothing."""

    model = "fake-priced"

    def __init__(self) -> None:
        self.calls = 0

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        self.calls += 1
        text = str(messages[-1]["content"]) if messages else ""
        current = parse_reflection_prompt(text).current_text
        return Completion(text=fenced(f"{current} #{self.calls}"), model=self.model, cost=0.01)


@pytest.mark.parametrize("name", ["max_cost_usd", "max_reflection_cost"])
def test_a_dollar_budget_stops_the_run_when_the_ledger_reaches_it(name: str) -> None:
    task = ToyTask(num_rules=4, train_size=40, val_size=4)
    lm = FakePricedLM()
    result = run(task, reflection_lm=lm, max_metric_calls=1000, **{name: 0.05})
    assert "max_cost_usd=$0.05" in result.stop_reason
    assert 5 <= lm.calls <= 6  # checked before each proposal: at most one more in flight
    roles = result.usage["roles"]
    assert roles["reflection"]["known_cost_usd"] == pytest.approx(0.01 * lm.calls)
    assert result.reflection_calls == lm.calls
    assert result.cost_usd == pytest.approx(0.01 * lm.calls)
    assert f"reflection calls {lm.calls}, cost $0.0" in repr(result)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("frontier_type", "pareto"),
        ("val_evaluation_policy", "half"),
        ("batch_sampler", 3),
        ("max_cost_usd", -1.0),
        ("max_reflection_calls", 0),
        ("merge_val_overlap_floor", 0),
        ("top_k", 0),
    ],
)
def test_bad_search_options_name_themselves_before_any_call(option: str, value: Any) -> None:
    task = ToyTask()
    with pytest.raises(ConfigError, match=option):
        run(task, **{option: value})
    assert task.calls == 0


def test_search_options_that_shape_the_trajectory_are_part_of_the_resume_check(
    tmp_path: Path,
) -> None:
    task = ToyTask(num_rules=4)
    run(task, run_dir=tmp_path, frontier_type="hybrid", max_metric_calls=60)
    again = run(ToyTask(num_rules=4), run_dir=tmp_path, frontier_type="hybrid", max_metric_calls=60)
    assert again.total_metric_calls <= 60
    with pytest.raises(ResumeMismatchError, match="frontier_type"):
        run(task, run_dir=tmp_path, frontier_type="instance", max_metric_calls=60)
    with pytest.raises(ResumeMismatchError, match="val_evaluation_policy"):
        run(
            task,
            run_dir=tmp_path,
            frontier_type="hybrid",
            val_evaluation_policy="subsample",
            max_metric_calls=60,
        )
