"""Concurrency of a run: `workers` rollouts and `max_concurrent_proposals` proposals at once.

The evaluator and proposer sleep a few milliseconds and count how many of their
calls overlap, so these tests see what the driver really runs in parallel.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

import gepakit
from gepakit.engine.loop import Driver
from gepakit.engine.protocols import EventSink
from gepakit.executors.local import ThreadExecutor
from gepakit.lm import FunctionLM, RateLimitedLM
from gepakit.testing import ToyTask


class Overlap:
    """A thread-safe gauge: how many calls are inside `track()` now, and at most."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.total = 0

    @contextmanager
    def track(self) -> Iterator[int]:
        with self._lock:
            self.now += 1
            self.total += 1
            self.peak = max(self.peak, self.now)
            started = self.total
        try:
            yield started
        finally:
            with self._lock:
                self.now -= 1


class SlowTask:
    """`ToyTask` whose evaluator and proposer sleep and record their overlap.

    Train and val rollouts are gauged separately: a minibatch has `minibatch`
    train rollouts, so more train rollouts than that at once means rollouts of
    different proposals share the pool.
    """

    def __init__(
        self,
        *,
        eval_sleep: float = 0.01,
        reflect_sleep: float = 0.03,
        train_size: int = 24,
        val_size: int = 8,
        num_rules: int = 24,
    ) -> None:
        self.toy = ToyTask(
            num_rules=num_rules, train_size=train_size, val_size=val_size, needs_per_example=2
        )
        self.eval_sleep = eval_sleep
        self.reflect_sleep = reflect_sleep
        self.rollouts = Overlap()
        self.train_rollouts = Overlap()
        self.reflections = Overlap()
        self.limit: int | None = None
        self.over_limit = False

    def evaluate(self, candidate: Mapping[str, str], example: Mapping[str, Any]) -> Any:
        train = str(example["id"]).startswith("t")
        with self.rollouts.track() as started:
            if self.limit is not None and started > self.limit:
                self.over_limit = True
            if train:
                with self.train_rollouts.track():
                    time.sleep(self.eval_sleep)
            else:
                time.sleep(self.eval_sleep)
            return self.toy.evaluate(candidate, example)

    async def aevaluate(self, candidate: Mapping[str, str], example: Mapping[str, Any]) -> Any:
        with self.rollouts.track():
            await asyncio.sleep(self.eval_sleep)
            return self.toy.evaluate(candidate, example)

    def proposer(
        self,
        candidate: Mapping[str, str],
        reflective_dataset: Mapping[str, Sequence[Mapping[str, Any]]],
        components: Sequence[str],
    ) -> dict[str, str]:
        with self.reflections.track():
            time.sleep(self.reflect_sleep)
            return self.toy.proposer(candidate, reflective_dataset, components)


class BudgetWatch(EventSink):
    """Records every budget update the engine reports."""

    def __init__(self) -> None:
        self.updates: list[tuple[int, int]] = []

    def budget_update(self, used: int, limit: int, cache_hits: int) -> None:
        self.updates.append((used, limit))


@pytest.fixture(autouse=True)
def _all_proposals_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests exercise K proposals in flight at once. The engine lowers the live
    number while most proposals are accepted (the toy task accepts nearly all); pin it."""
    monkeypatch.setattr(Driver, "_live_k", lambda self: self.state.config.max_concurrent_proposals)


def run(task: SlowTask, **options: Any) -> gepakit.Result:
    options.setdefault("max_metric_calls", 160)
    options.setdefault("reflection_minibatch_size", 2)
    return gepakit.optimize(
        task.toy.seed_candidate,
        task.toy.trainset,
        task.toy.valset,
        evaluator=task.evaluate,
        instruction_proposer=task.proposer,
        use_merge=False,
        **options,
    )


def test_rollouts_of_all_in_flight_proposals_share_one_pool() -> None:
    task = SlowTask()
    result = run(task, workers=8, max_concurrent_proposals=4)
    assert task.rollouts.peak == 8
    # A minibatch holds 2 train rollouts: 8 at once means 4 proposals shared the pool.
    assert task.train_rollouts.peak > 2
    assert task.rollouts.total == result.total_metric_calls


def test_reflection_calls_of_different_proposals_run_concurrently() -> None:
    task = SlowTask(reflect_sleep=0.05)
    result = run(task, workers=8, max_concurrent_proposals=3)
    assert task.reflections.peak == 3
    assert len(result.proposals) >= 3


def test_one_proposal_in_flight_means_one_reflection_at_a_time() -> None:
    task = SlowTask()
    run(task, workers=8, max_concurrent_proposals=1)
    assert task.reflections.peak == 1
    assert task.rollouts.peak == 8  # the valset of 8 is still evaluated in parallel


@pytest.mark.parametrize(
    ("workers", "proposals", "budget"),
    [(8, 4, 61), (8, 4, 97), (4, 6, 150), (3, 2, 113), (16, 8, 200)],
)
def test_budget_is_exact_under_concurrency(workers: int, proposals: int, budget: int) -> None:
    task = SlowTask(eval_sleep=0.002, reflect_sleep=0.005)
    task.limit = budget
    watch = BudgetWatch()
    result = run(
        task,
        workers=workers,
        max_concurrent_proposals=proposals,
        max_metric_calls=budget,
        callbacks=[watch],
    )
    assert not task.over_limit, "a rollout started beyond the budget"
    assert result.total_metric_calls == task.rollouts.total <= budget
    assert result.max_metric_calls == budget
    assert all(used <= limit == budget for used, limit in watch.updates)
    assert [u for u, _ in watch.updates] == list(range(1, result.total_metric_calls + 1))
    # The run stops only when what is left cannot pay for one more proposal step
    # (2 x minibatch 2 + valset 8).
    assert result.stop_reason.startswith("budget exhausted")
    assert budget - result.total_metric_calls < 2 * 2 + 8


def test_async_evaluator_runs_workers_coroutines_at_once() -> None:
    task = SlowTask()
    result = gepakit.optimize(
        task.toy.seed_candidate,
        task.toy.trainset,
        task.toy.valset,
        evaluator=task.aevaluate,
        instruction_proposer=task.proposer,
        max_metric_calls=120,
        reflection_minibatch_size=2,
        workers=4,
        max_concurrent_proposals=2,
    )
    assert task.rollouts.peak == 4
    assert task.rollouts.total == result.total_metric_calls <= 120


def _toy_run(**options: Any) -> dict[str, Any]:
    toy = ToyTask(num_rules=12, train_size=12, val_size=10, needs_per_example=2)
    result = gepakit.optimize(
        toy.seed_candidate,
        toy.trainset,
        toy.valset,
        evaluator=toy.evaluate,
        reflection_lm=toy.reflect,
        max_metric_calls=240,
        seed=3,
        **options,
    )
    assert toy.calls == result.total_metric_calls
    return result.to_dict()


def test_one_worker_one_proposal_is_identical_to_the_serial_run() -> None:
    serial = _toy_run()
    assert _toy_run(workers=1, max_concurrent_proposals=1, executor="thread") == serial
    assert _toy_run(workers=1, max_concurrent_proposals=1, executor="inline") == serial


def test_many_workers_one_proposal_is_identical_to_the_serial_run() -> None:
    serial = _toy_run()
    assert _toy_run(workers=6, max_concurrent_proposals=1) == serial
    assert _toy_run(workers=3, max_concurrent_proposals=1, executor=ThreadExecutor(3)) == serial


def test_concurrent_proposals_still_reach_the_serial_quality() -> None:
    serial = _toy_run()
    parallel = _toy_run(workers=6, max_concurrent_proposals=3)
    assert max(parallel["val_aggregate_scores"]) >= max(serial["val_aggregate_scores"])


def test_one_rate_limiter_is_shared_by_concurrent_reflections() -> None:
    # Limits go through by passing a rate-limited LM as reflection_lm: every proposal
    # in flight draws from the same buckets.
    toy = ToyTask(num_rules=12, train_size=12, val_size=6, needs_per_example=2)
    waits: list[float] = []
    calls: list[str] = []

    def reflect(prompt: str) -> str:
        calls.append(prompt)
        return toy.reflect(prompt)

    lm = RateLimitedLM(FunctionLM(reflect), requests_per_minute=3, sleep=waits.append)
    result = gepakit.optimize(
        toy.seed_candidate,
        toy.trainset,
        toy.valset,
        evaluator=toy.evaluate,
        reflection_lm=lm,
        max_metric_calls=200,
        workers=4,
        max_concurrent_proposals=3,
    )
    assert sum(1 for p in result.proposals if p.prompts) > 3
    # A burst of 3 is free, every later request waits its turn (20 s apart at 3/min).
    # (A proposal may send two requests: see ReflectiveProposer's second try.)
    assert len(waits) == len(calls) - 3
    assert sorted(waits) == pytest.approx([20.0 * k for k in range(1, len(waits) + 1)], abs=1)


class _CountingProposer:
    """Every reply is a new text that fixes nothing (rejected); records, at each call,
    how many metric calls had run and how many calls were in flight."""

    def __init__(self, task: SlowTask) -> None:
        self.task = task
        self.seen: list[tuple[int, int]] = []
        self.count = 0
        self.lock = threading.Lock()

    def __call__(
        self,
        candidate: Mapping[str, str],
        reflective_dataset: Mapping[str, Sequence[Mapping[str, Any]]],
        components: Sequence[str],
    ) -> dict[str, str]:
        with self.task.reflections.track():
            with self.lock:
                self.count += 1
                self.seen.append((self.task.rollouts.total, self.task.reflections.now))
                n = self.count
            time.sleep(self.task.reflect_sleep)
            return {c: f"{candidate[c]} #{n}" for c in components}


def test_mostly_rejected_proposals_stay_k_wide_until_the_budget_ends() -> None:
    # Valset 30, budget 150: keeping a valset free for each proposal in flight would
    # leave room for one or two proposals in the last 40 calls.
    task = SlowTask(eval_sleep=0.002, reflect_sleep=0.03, train_size=40, val_size=30)
    proposer = _CountingProposer(task)
    result = gepakit.optimize(
        task.toy.seed_candidate,
        task.toy.trainset,
        task.toy.valset,
        evaluator=task.evaluate,
        instruction_proposer=proposer,
        max_metric_calls=150,
        reflection_minibatch_size=2,
        workers=8,
        max_concurrent_proposals=4,
        use_merge=False,
    )
    assert result.total_metric_calls == task.rollouts.total <= 150
    late = [inflight for calls, inflight in proposer.seen if calls >= 150 - 40]
    assert len(late) >= 6
    assert max(late) >= 3


def test_minibatch_rollouts_go_ahead_of_a_queued_valset() -> None:
    # One worker: a child's valset of 12 is queued; a minibatch requested meanwhile by
    # another proposal runs next, not after the whole valset.
    task = SlowTask(eval_sleep=0.004, reflect_sleep=0.01, val_size=12)
    order: list[tuple[str, str]] = []
    lock = threading.Lock()

    def evaluate(candidate: Mapping[str, str], example: Mapping[str, Any]) -> Any:
        with lock:
            order.append((str(sorted(candidate.items())), str(example["id"])[0]))
        return task.evaluate(candidate, example)

    calls = itertools.count()

    def propose(candidate: Any, reflective_dataset: Any, components: Any) -> dict[str, str]:
        if next(calls) % 3 == 0:  # one useful proposal in three: others keep proposing
            return task.proposer(candidate, reflective_dataset, components)
        time.sleep(task.reflect_sleep)
        return {c: f"{candidate[c]} #{next(calls)}" for c in components}

    gepakit.optimize(
        task.toy.seed_candidate,
        task.toy.trainset,
        task.toy.valset,
        evaluator=evaluate,
        instruction_proposer=propose,
        max_metric_calls=200,
        reflection_minibatch_size=2,
        workers=1,
        executor=ThreadExecutor(1),
        max_concurrent_proposals=3,
        use_merge=False,
    )
    # Some train rollout ran between the first and the last val rollout of a child.
    interleaved = False
    for cand in {c for c, split in order if split == "v"}:
        spots = [k for k, (c, split) in enumerate(order) if c == cand and split == "v"]
        between = order[spots[0] : spots[-1]]
        interleaved = interleaved or any(split == "t" for _, split in between)
    assert interleaved
