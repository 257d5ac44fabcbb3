"""Batch evaluators: one `evaluate_batch` call per evaluation request, same run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import gepakit
from gepakit import EvaluatorError, optimize
from gepakit.engine.reflection import ProposerReply, ReflectionRequest
from gepakit.store.memory import MemoryStore
from gepakit.store.sqlite import SQLiteStore
from gepakit.testing import ToyTask
from gepakit.types import Candidate, Example, Rollout, Split


class BatchToy:
    """A fake batch evaluator over `ToyTask`: records every call it gets."""

    evaluator_id = "batch-toy"

    def __init__(self, task: ToyTask, *, fail_calls: int = 0, error: Exception | None = None):
        self.task = task
        self.calls: list[tuple[str, tuple[str, ...], Split, bool]] = []
        self.fail_calls = fail_calls
        self.error = error or RuntimeError("batch service unavailable")

    def __call__(self, candidate: Mapping[str, str], example: Mapping[str, Any]) -> Any:
        raise AssertionError("a batch evaluator is never called per example")

    def evaluate_batch(
        self,
        candidate: Candidate,
        examples: Sequence[Example],
        split: Split,
        capture_traces: bool,
    ) -> list[Rollout]:
        self.calls.append((candidate.id, tuple(e.id for e in examples), split, capture_traces))
        if len(self.calls) <= self.fail_calls:
            raise self.error
        out = []
        for ex in examples:
            s = self.task.score(candidate.components, ex.data)
            out.append(
                Rollout(
                    candidate_id=candidate.id,
                    example_id=ex.id,
                    split=split,
                    score=s.score,
                    feedback=s.feedback,
                    output=s.output,
                    trace={"seen": ex.id} if capture_traces else None,
                )
            )
        return out


def run(evaluator: Any, task: ToyTask, **kw: Any) -> gepakit.Result:
    args: dict[str, Any] = {
        "evaluator": evaluator,
        "reflection_lm": task.reflect,
        "max_metric_calls": 80,
        "reflection_minibatch_size": 3,
        "seed": 0,
        **kw,
    }
    return optimize(task.seed_candidate, task.trainset, task.valset, **args)


def comparable(result: gepakit.Result) -> dict[str, Any]:
    d = result.to_dict()
    for key in ("usage", "proposals"):
        d.pop(key)
    return d


def test_one_call_per_request_and_the_same_run_as_per_example_evaluation() -> None:
    task = ToyTask(components=("a", "b"), needs_per_example=2)
    batch = BatchToy(task)
    batched = run(batch, task)
    single = run(ToyTask(components=("a", "b"), needs_per_example=2).evaluate, task)
    assert comparable(batched) == comparable(single)
    sizes = [len(ids) for _, ids, _, _ in batch.calls]
    assert sum(sizes) == batched.total_metric_calls <= 80
    # The seed's valset, then minibatches of 3 and valsets of 6: never one by one.
    assert sizes[0] == len(task.valset)
    assert all(size in (1, 2, 3, len(task.valset)) for size in sizes)
    assert len(batch.calls) < batched.total_metric_calls / 2
    assert all(capture == (split == "train") for _, _, split, capture in batch.calls)


def test_every_rollout_is_stored_and_counted_once() -> None:
    task = ToyTask()
    store = MemoryStore()
    result = run(BatchToy(task), task, store=store)
    assert len(store.rollouts) == result.total_metric_calls
    assert all(r.error is None for r in store.rollouts.values())


def test_the_proposer_gets_the_parent_rollouts_with_their_traces() -> None:
    task = ToyTask()
    seen: list[ReflectionRequest] = []

    class Recording:
        def propose(self, request: ReflectionRequest) -> ProposerReply:
            seen.append(request)
            texts = task.proposer(request.candidate, request.reflective_dataset, request.components)
            return ProposerReply(texts=texts)

    run(BatchToy(task), task, instruction_proposer=Recording(), max_metric_calls=40)
    assert seen
    for request in seen:
        assert len(request.rollouts) == 3
        for r in request.rollouts:
            assert r.split == "train" and r.trace == {"seen": r.example_id}


def test_a_failing_batch_call_is_retried_then_scores_the_failure_score() -> None:
    task = ToyTask()
    flaky = BatchToy(task, fail_calls=2)
    result = run(flaky, task)
    assert flaky.calls[0] == flaky.calls[1] == flaky.calls[2]  # two retries of the seed's valset
    assert result.val_aggregate_scores[0] == 0.0  # the third try succeeded: a real 0 score

    broken = BatchToy(task, fail_calls=10**6)
    with pytest.raises(EvaluatorError, match="every val example"):
        run(broken, task, failure_score=0.0)
    assert len(broken.calls) == 3


def test_an_evaluator_error_from_a_batch_aborts_the_run() -> None:
    task = ToyTask()
    fatal = BatchToy(task, fail_calls=1, error=EvaluatorError("adapter misconfigured"))
    with pytest.raises(EvaluatorError, match="adapter misconfigured"):
        run(fatal, task)
    assert len(fatal.calls) == 1


def test_a_batch_breaking_its_contract_fails_its_rollouts_with_a_clear_error() -> None:
    task = ToyTask()

    class Short(BatchToy):
        def evaluate_batch(
            self,
            candidate: Candidate,
            examples: Sequence[Example],
            split: Split,
            capture_traces: bool,
        ) -> list[Rollout]:
            return super().evaluate_batch(candidate, examples, split, capture_traces)[:-1]

    with pytest.raises(EvaluatorError) as info:
        run(Short(task), task)
    assert "evaluate_batch returned 5 rollouts for 6 examples" in str(info.value)


def test_resume_replays_batched_work_without_paying_twice(tmp_path: Path) -> None:
    task = ToyTask(train_size=6)
    first = BatchToy(task)
    run(first, task, run_dir=tmp_path / "a", max_metric_calls=40)
    resumed_eval = BatchToy(task)
    extended = run(resumed_eval, task, run_dir=tmp_path / "a", max_metric_calls=80)
    straight = run(BatchToy(task), task, run_dir=tmp_path / "b", max_metric_calls=80)
    assert comparable(extended) == {**comparable(straight), "run_dir": str(tmp_path / "a")}
    paid_first = sum(len(ids) for _, ids, _, _ in first.calls)
    paid_after = sum(len(ids) for _, ids, _, _ in resumed_eval.calls)
    assert paid_first + paid_after == extended.total_metric_calls


def test_a_batch_is_stored_in_one_commit_and_resumes_without_paying_again(
    tmp_path: Path,
) -> None:
    task = ToyTask()
    batch = BatchToy(task)
    commits: list[int] = []
    original = SQLiteStore.put_rollouts

    def counted(self: SQLiteStore, rollouts: Sequence[Rollout]) -> None:
        before = self.commits
        original(self, rollouts)
        commits.append(self.commits - before)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SQLiteStore, "put_rollouts", counted)
        result = run(batch, task, run_dir=tmp_path / "run")
    assert len(commits) == len(batch.calls) and set(commits) == {1}
    with SQLiteStore(tmp_path / "run", readonly=True) as store:
        assert store.paid_count == result.total_metric_calls
    again = BatchToy(task)
    assert comparable(run(again, task, run_dir=tmp_path / "run")) == comparable(result)
    assert again.calls == []
