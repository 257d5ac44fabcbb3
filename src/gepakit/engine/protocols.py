"""The engine's view of the outside world: stores, executors and event sinks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

from gepakit.types import Candidate, Example, Proposal, Rollout, Split

T = TypeVar("T")

RolloutKey = tuple[str, str, Split]
"""(candidate id, example id, split): the evaluation-cache key within one evaluator."""


class Executor(Protocol):
    """Runs rollouts somewhere: inline, in threads, on an event loop or a cluster.

    `submit` may be called from the engine thread only. The returned future may
    complete on any thread.
    """

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]: ...

    def shutdown(self) -> None: ...


class BatchEvaluator(Protocol):
    """An evaluator that rolls out one candidate on several examples in one call.

    The driver calls `evaluate_batch` once per evaluation request (a minibatch, a
    valset or the uncached part of one) instead of once per example, on an executor
    thread. `capture_traces` is True for train (minibatch) requests, whose rollouts
    the proposer reflects on. Each returned rollout is one metric call; the budget for
    all of them is reserved before the call.

    Contract: return one `Rollout` per example, in order, with the candidate's id,
    the example's id and `split`. Turn a failure on one example into a rollout with
    `error` set; raise `EvaluatorError` to abort the run. Any other exception fails the
    whole call: it is retried twice, then every example scores `failure_score`.
    """

    def evaluate_batch(
        self,
        candidate: Candidate,
        examples: Sequence[Example],
        split: Split,
        capture_traces: bool,
    ) -> Sequence[Rollout]: ...


class RunStore(Protocol):
    """Append-only facts about one run, and the evaluation cache.

    Writes of one call are atomic. Candidate, proposal and step-result writes are
    idempotent (the same key written twice keeps one row), because a resumed run
    replays its history and writes those records again.
    """

    def own_rollout(self, key: RolloutKey) -> Rollout | None:
        """A rollout this run already paid for, or None."""
        ...

    def shared_rollout(self, key: RolloutKey) -> Rollout | None:
        """A rollout from the shared evaluation cache (another run paid), or None."""
        ...

    def put_rollout(self, rollout: Rollout) -> None:
        """Record a rollout this run paid for (also into the shared cache, if any).

        Called on the thread that completed the rollout (an executor thread), as soon
        as it completes, so it must be thread-safe.
        """
        ...

    def put_candidate(
        self, index: int, candidate: Candidate, parents: Sequence[int], info: Mapping[str, Any]
    ) -> None: ...

    def put_proposal(self, proposal: Proposal) -> None: ...

    def put_step_result(self, job: int, step: int, payload: Mapping[str, Any]) -> None:
        """Record the result of a non-rollout step (a proposer reply) for replay."""
        ...

    def step_result(self, job: int, step: int) -> Mapping[str, Any] | None: ...

    def put_delivery(self, seq: int, job: int, step: int) -> None:
        """Record that step `step` of job `job` got its result, as delivery number `seq`."""
        ...

    def deliveries(self) -> list[tuple[int, int]]:
        """(job, step) of every delivery, in order."""
        ...

    def put_event(self, kind: str, data: Mapping[str, Any]) -> None: ...


class EventSink:
    """Receives typed notifications from a run. Override the methods you need.

    Methods are called on the engine thread; keep them fast. Exceptions raised by
    a sink are logged and ignored, never abort the run.
    """

    def run_started(self, info: Mapping[str, Any]) -> None:
        """The run began (or resumed); `info` has the budget, dataset sizes, seed."""

    def rollout_finished(self, rollout: Rollout) -> None:
        """A paid rollout completed. With ``eval_repeats`` > 1 or ``reuse_evaluations=False``:
        an evaluation was delivered, once per example (the mean of its draws)."""

    def proposal_finished(self, proposal: Proposal) -> None:
        """A proposal was accepted, rejected, skipped or failed."""

    def candidate_added(self, index: int, candidate: Candidate, val_score: float) -> None:
        """A candidate was evaluated on the full valset and joined the pool."""

    def new_best(self, index: int, score: float) -> None:
        """A candidate became the best by mean val score."""

    def budget_update(self, used: int, limit: int, cache_hits: int) -> None:
        """Metric calls used changed."""

    def run_finished(self, summary: Mapping[str, Any]) -> None:
        """The run stopped; `summary` has the stop reason, best score and calls used."""


class MultiSink(EventSink):
    """Fans every event out to several sinks."""

    def __init__(self, sinks: Sequence[EventSink]) -> None:
        self.sinks = list(sinks)

    def run_started(self, info: Mapping[str, Any]) -> None:
        for s in self.sinks:
            s.run_started(info)

    def rollout_finished(self, rollout: Rollout) -> None:
        for s in self.sinks:
            s.rollout_finished(rollout)

    def proposal_finished(self, proposal: Proposal) -> None:
        for s in self.sinks:
            s.proposal_finished(proposal)

    def candidate_added(self, index: int, candidate: Candidate, val_score: float) -> None:
        for s in self.sinks:
            s.candidate_added(index, candidate, val_score)

    def new_best(self, index: int, score: float) -> None:
        for s in self.sinks:
            s.new_best(index, score)

    def budget_update(self, used: int, limit: int, cache_hits: int) -> None:
        for s in self.sinks:
            s.budget_update(used, limit, cache_hits)

    def run_finished(self, summary: Mapping[str, Any]) -> None:
        for s in self.sinks:
            s.run_finished(summary)
