"""The driver under faults: a store that stops taking writes, an LM that is down."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from gepakit import optimize
from gepakit.errors import (
    InfrastructureError,
    LMError,
    RunStoppedError,
    StoreError,
    is_infrastructure_failure,
)
from gepakit.store.memory import MemoryStore
from gepakit.store.sqlite import SQLiteStore
from gepakit.testing import ToyTask
from gepakit.types import Candidate, Rollout


class FailingStore(MemoryStore):
    """A fake store whose rollout writes fail (like a full disk) after `ok_writes`."""

    def __init__(self, ok_writes: int) -> None:
        super().__init__()
        self.ok_writes = ok_writes
        self.writes = 0
        self.write_lock = threading.Lock()

    def put_rollout(self, rollout: Rollout) -> None:
        with self.write_lock:
            self.writes += 1
            if self.writes > self.ok_writes:
                raise StoreError("cannot write to the run store: database or disk is full")
        super().put_rollout(rollout)


@pytest.mark.parametrize("workers", [1, 4])
def test_a_failed_persist_stops_dispatch_at_once(workers: int) -> None:
    # The seed's val evaluation is one request of 12 rollouts; the 3rd write fails.
    task = ToyTask(train_size=4, val_size=12)
    store = FailingStore(ok_writes=2)
    with pytest.raises(StoreError, match="disk is full"):
        optimize(
            task.seed_candidate,
            task.trainset,
            task.valset,
            evaluator=task.evaluate,
            reflection_lm=task.reflect,
            max_metric_calls=100,
            workers=workers,
            store=store,
        )
    # Inline: nothing after the failed write. Threads: at most the rollouts already
    # running on the other workers when it failed (queued ones are cancelled).
    assert task.calls <= 3 + (workers - 1)
    assert task.calls < 12


class DownLM:
    """A fake task LM: an evaluator whose LM is unreachable for some examples."""

    def __init__(self, task: ToyTask, down_for: set[str]) -> None:
        self.task = task
        self.down_for = down_for
        self.calls = 0

    def __call__(self, candidate: dict[str, str], example: dict[str, Any]) -> Any:
        self.calls += 1
        if example["id"] in self.down_for:
            raise LMError("cannot connect to http://127.0.0.1:9/v1", transient=True)
        return self.task.evaluate(candidate, example)


def test_an_lm_outage_is_not_recorded_and_a_resume_retries_it(tmp_path: Any) -> None:
    task = ToyTask(train_size=4, val_size=4)
    ev = DownLM(task, {"v2"})
    args: dict[str, Any] = {
        "reflection_lm": task.reflect,
        "max_metric_calls": 60,
        "run_dir": tmp_path / "run",
    }
    with pytest.raises(RunStoppedError, match=r"infrastructure failure.*127\.0\.0\.1:9") as err:
        optimize(task.seed_candidate, task.trainset, task.valset, evaluator=ev, **args)
    assert "3 paid rollouts kept; resume with run_dir=" in str(err.value)
    # The outage cost no budget and nothing about v2 was stored as a result.
    with SQLiteStore(tmp_path / "run", readonly=True) as store:
        assert sorted(r.example_id for _, r in store.rollouts()) == ["v0", "v1", "v3"]
    # The server is back: the resume runs v2 (and only v2 of the seed's rollouts again).
    ev.down_for.clear()
    calls_before = ev.calls
    second = optimize(task.seed_candidate, task.trainset, task.valset, evaluator=ev, **args)
    assert second.num_candidates >= 1
    seed_id = Candidate(components=task.seed_candidate).id
    with SQLiteStore(tmp_path / "run", readonly=True) as store:
        v2 = store.rollout((seed_id, "v2", "val"))
        assert v2 is not None and v2.error is None
    assert "infrastructure" not in second.stop_reason
    assert second.total_metric_calls == ev.calls - calls_before + 3


def test_infrastructure_failures_are_told_apart_from_results() -> None:
    class APIConnectionError(Exception):  # named like the openai SDK's
        pass

    assert is_infrastructure_failure(LMError("down", transient=True))
    assert not is_infrastructure_failure(LMError("bad request", transient=False))
    assert is_infrastructure_failure(ConnectionRefusedError())
    assert is_infrastructure_failure(APIConnectionError())
    try:
        try:
            raise LMError("timeout", transient=True)
        except LMError as inner:
            raise RuntimeError("my evaluator wraps it") from inner
    except RuntimeError as wrapped:
        assert is_infrastructure_failure(wrapped)
    assert not is_infrastructure_failure(TimeoutError("the candidate's code ran too long"))
    assert not is_infrastructure_failure(ValueError("bad output"))
    assert issubclass(InfrastructureError, Exception)


def test_an_outage_after_the_seed_returns_the_result_so_far(tmp_path: Any) -> None:
    task = ToyTask(train_size=4, val_size=4)
    ev = DownLM(task, set())
    calls = {"n": 0}

    def flaky(candidate: dict[str, str], example: dict[str, Any]) -> Any:
        calls["n"] += 1
        if calls["n"] > 6:  # the seed's val evaluation (4) and a minibatch (2) work
            raise LMError("HTTP 503: overloaded (gave up after 5 attempts)", transient=True)
        return ev(candidate, example)

    result = optimize(
        task.seed_candidate,
        task.trainset,
        task.valset,
        evaluator=flaky,
        reflection_lm=task.reflect,
        reflection_minibatch_size=2,
        max_metric_calls=60,
        run_dir=tmp_path / "run",
    )
    assert result.num_candidates == 1
    assert "infrastructure failure" in result.stop_reason and "503" in result.stop_reason
    with SQLiteStore(tmp_path / "run", readonly=True) as store:
        assert store.paid_count == result.total_metric_calls
        assert all(r.error is None for _, r in store.rollouts())


def test_a_reflection_lm_outage_is_not_a_failed_proposal_and_resume_retries_it(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gepakit.lm.retry import RetryingLM

    monkeypatch.setattr(RetryingLM, "delay", lambda self, retry, error: 0.0)
    task = ToyTask(train_size=4, val_size=4)
    down = {"on": True}
    prompts: list[str] = []

    def reflect(prompt: str) -> str:
        prompts.append(prompt)
        if down["on"]:
            raise LMError("cannot connect to http://127.0.0.1:9/v1 (gave up)", transient=True)
        return task.reflect(prompt)

    args: dict[str, Any] = {
        "evaluator": task.evaluate,
        "reflection_lm": reflect,
        "max_metric_calls": 60,
        "run_dir": tmp_path / "run",
    }
    first = optimize(task.seed_candidate, task.trainset, task.valset, **args)
    assert "infrastructure failure, reflection not recorded" in first.stop_reason
    assert first.proposals == ()  # no failed proposal is stored
    assert len(prompts) == 5  # one proposal's attempts: the run stopped at the first outage
    down["on"] = False
    second = optimize(task.seed_candidate, task.trainset, task.valset, **args)
    assert second.proposals and "infrastructure" not in second.stop_reason
    assert second.best_score > second.val_aggregate_scores[0]
