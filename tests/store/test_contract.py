"""The `RunStore` contract, run against every implementation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gepakit.engine.protocols import RunStore
from gepakit.store.memory import MemoryStore
from gepakit.store.sqlite import SQLiteStore
from gepakit.types import Candidate, Proposal, Rollout


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    s = SQLiteStore(tmp_path / "run")
    yield s
    s.close()


def rollout(cid: str = "c1", eid: str = "e1", split: Any = "val", **kw: Any) -> Rollout:
    fields: dict[str, Any] = {
        "score": 0.5,
        "feedback": "fine",
        "output": {"answer": [1, 2]},
        "trace": {"comp": {"inputs": {"q": "x"}, "outputs": "y"}},
        "objectives": {"len": 0.25},
        "usage": {"tokens": 3},
        "duration": 0.125,
        **kw,
    }
    return Rollout(candidate_id=cid, example_id=eid, split=split, **fields)


def proposal(index: int = 0, decision: str = "accepted") -> Proposal:
    return Proposal(
        index=index,
        kind="reflection",
        parent_ids=("p",),
        child_id="c",
        components=("instruction",),
        decision=decision,
        reason="better",
        minibatch_ids=("t1", "t2"),
        parent_scores=(0.0, 1.0),
        child_scores=(1.0, 1.0),
        prompts={"instruction": "prompt"},
        replies={"instruction": "reply"},
        new_texts={"instruction": "new"},
        metric_calls_at=7,
    )


def test_rollouts_round_trip_and_are_keyed_by_candidate_example_split(store: RunStore) -> None:
    assert store.own_rollout(("c1", "e1", "val")) is None
    r = rollout()
    store.put_rollout(r)
    assert store.own_rollout(("c1", "e1", "val")) == r
    assert store.own_rollout(("c1", "e1", "train")) is None
    assert store.own_rollout(("c2", "e1", "val")) is None
    store.put_rollout(rollout(split="train", score=1.0, error="boom", feedback=None))
    got = store.own_rollout(("c1", "e1", "train"))
    assert got is not None and got.score == 1.0 and got.error == "boom" and got.feedback is None


def test_without_a_shared_cache_there_are_no_shared_rollouts(store: RunStore) -> None:
    store.put_rollout(rollout())
    assert store.shared_rollout(("c1", "e1", "val")) is None


def test_candidate_proposal_and_step_writes_are_idempotent(store: RunStore) -> None:
    cand = Candidate(components={"instruction": "hi"})
    store.put_candidate(0, cand, (), {"origin": "seed"})
    store.put_candidate(0, cand, (), {"origin": "seed"})
    store.put_proposal(proposal(0))
    store.put_proposal(proposal(0))
    store.put_step_result(3, 1, {"texts": {"a": "b"}})
    store.put_step_result(3, 1, {"texts": {"a": "b"}})
    assert store.step_result(3, 1) == {"texts": {"a": "b"}}
    assert store.step_result(3, 2) is None
    if isinstance(store, SQLiteStore):
        assert len(store.candidates()) == 1
        assert store.proposals() == [proposal(0)]
    else:
        assert isinstance(store, MemoryStore)
        assert len(store.candidates) == 1 and store.proposals[0] == proposal(0)


def test_deliveries_keep_their_order_and_reject_gaps(store: RunStore) -> None:
    for seq, (job, step) in enumerate([(0, 0), (1, 0), (0, 1)]):
        store.put_delivery(seq, job, step)
    assert store.deliveries() == [(0, 0), (1, 0), (0, 1)]
    with pytest.raises(Exception, match="out of order"):
        store.put_delivery(5, 2, 0)
    assert store.deliveries() == [(0, 0), (1, 0), (0, 1)]


def test_events_are_appended(store: RunStore) -> None:
    store.put_event("proposal", {"index": 0})
    store.put_event("new_best", {"index": 1, "score": 0.5})
    if isinstance(store, SQLiteStore):
        assert [(k, d) for _, k, d in store.events()] == [
            ("proposal", {"index": 0}),
            ("new_best", {"index": 1, "score": 0.5}),
        ]


def test_put_rollout_is_thread_safe(store: RunStore) -> None:
    def work(t: int) -> None:
        for i in range(50):
            store.put_rollout(rollout(cid=f"c{t}", eid=f"e{i}"))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(
        store.own_rollout((f"c{t}", f"e{i}", "val")) is not None
        for t in range(4)
        for i in range(50)
    )
