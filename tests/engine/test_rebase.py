"""Rebasing a stale child onto a newer descendant, and the live number of proposals."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from gepakit.engine.budget import Budget
from gepakit.engine.loop import Driver
from gepakit.engine.protocols import EventSink
from gepakit.engine.rebase import kept_share, newer_descendant, rebased_texts, three_way
from gepakit.engine.reflection import ProposerReply
from gepakit.engine.state import EngineState, SearchConfig
from gepakit.engine.steps import Await, Evaluate, Propose, reflective_job
from gepakit.executors.local import InlineExecutor
from gepakit.store.memory import MemoryStore
from gepakit.types import Candidate, Example, Proposal, Rollout


@pytest.mark.parametrize(
    ("base", "ours", "theirs", "merged"),
    [
        ("Answer.", "Answer. kw1", "Answer. kw2", "Answer. kw2 kw1"),  # both appended
        ("a b c", "a x c", "a b c d", "a x c d"),  # disjoint edits
        ("a b c", "a c", "z a b c", "z a c"),  # a deletion lands where the word still is
        ("a b c", "a b c", "a y c", "a y c"),  # ours changed nothing
        ("a b c", "a y c", "a b c", "a y c"),  # theirs changed nothing
        ("a b c", "a x c", "a y c", None),  # both changed the same word
        ("a b c", "a b x c", "a c", None),  # inserting next to a word theirs deleted
    ],
)
def test_three_way_applies_our_edit_to_theirs_or_refuses(
    base: str, ours: str, theirs: str, merged: str | None
) -> None:
    assert three_way(base, ours, theirs) == merged


def test_rebased_texts_need_a_change_that_applies() -> None:
    parent, target = {"p": "A.", "q": "B."}, {"p": "A. x", "q": "B."}
    assert rebased_texts(parent, {"p": "A.", "q": "B. y"}, target) == {"p": "A. x", "q": "B. y"}
    assert rebased_texts(parent, {"p": "A. x", "q": "B."}, target) is None  # already there
    assert rebased_texts(parent, {"p": "C.", "q": "B."}, target) == {"p": "C. x", "q": "B."}
    assert rebased_texts(parent, {"p": "C.", "q": "B."}, {"p": "Z.", "q": "B."}) is None


def test_newer_descendant_is_the_best_better_descendant_added_since() -> None:
    parents: list[tuple[int, ...]] = [(), (0,), (0,), (1,), ()]
    aggregate = [0.2, 0.5, 0.1, 0.7, 0.9]
    assert newer_descendant(0, 1, parents, aggregate) == 3  # 4 is no descendant, 2 worse
    assert newer_descendant(0, 4, parents, aggregate) is None
    assert newer_descendant(1, 0, parents, aggregate) == 3


def _rollouts(cand: Candidate, ids: tuple[str, ...], score: float, split: Any) -> list[Rollout]:
    return [Rollout(candidate_id=cand.id, example_id=e, split=split, score=score) for e in ids]


def _seeded(
    text: str, *, train: int = 3, val: int = 2, proposals: int = 2
) -> tuple[EngineState, Candidate]:
    """An engine state whose seed `{"p": text}` scored 0 on every val example."""
    cfg = SearchConfig(max_concurrent_proposals=proposals, use_merge=False)
    state = EngineState(
        Candidate.of({"p": text}),
        [Example(id=f"t{i}", data={}) for i in range(train)],
        [Example(id=f"v{i}", data={}) for i in range(val)],
        cfg,
        Budget(100),
    )
    seed = state.seed_candidate
    val_ids = tuple(f"v{i}" for i in range(val))
    state.add_candidate(seed, (), "seed", _rollouts(seed, val_ids, 0.0, "val"))
    return state, seed


def test_a_stale_child_is_rebased_onto_the_descendant_added_meanwhile() -> None:
    state, seed = _seeded("Seed.")

    job = reflective_job(state, 0)
    req = next(job)
    assert isinstance(req, Evaluate) and req.candidate == seed
    batch = req.example_ids
    req = job.send(_rollouts(seed, batch, 0.0, "train"))
    assert isinstance(req, Propose)
    # Meanwhile a sibling proposal's child joins the pool and beats the seed.
    sibling = seed.replace_texts({"p": "Seed. kw1"})
    state.add_candidate(sibling, (0,), "reflection", _rollouts(sibling, ("v0", "v1"), 0.5, "val"))
    req = job.send(ProposerReply(texts={"p": "Seed. kw2"}))
    assert isinstance(req, Evaluate) and req.candidate.components["p"] == "Seed. kw2"
    req = job.send(_rollouts(req.candidate, batch, 0.5, "train"))  # beats the seed
    # The rebase: the sibling on the minibatch, then the child's edit applied to it.
    assert isinstance(req, Evaluate) and req.candidate == sibling and req.example_ids == batch
    req = job.send(_rollouts(sibling, batch, 0.5, "train"))
    assert isinstance(req, Evaluate) and dict(req.candidate.components) == {"p": "Seed. kw1 kw2"}
    rebased = req.candidate
    req = job.send(_rollouts(rebased, batch, 1.0, "train"))
    assert isinstance(req, Evaluate) and req.split == "val" and req.candidate == rebased
    with pytest.raises(StopIteration) as stop:
        job.send(_rollouts(rebased, ("v0", "v1"), 1.0, "val"))
    proposal = stop.value.value
    assert proposal.decision == "accepted" and "rebased onto candidate 1" in proposal.reason
    assert state.parents[2] == (1,)  # the lineage names the descendant it was rebased on
    assert proposal.parent_ids == (sibling.id,) and proposal.child_id == rebased.id


def test_a_serial_run_never_rebases() -> None:
    state, seed = _seeded("Seed.", val=1, proposals=1)
    job = reflective_job(state, 0)
    batch = next(job).example_ids  # type: ignore[union-attr]
    job.send(_rollouts(seed, batch, 0.0, "train"))
    other = seed.replace_texts({"p": "Seed. kw1"})
    state.add_candidate(other, (0,), "reflection", _rollouts(other, ("v0",), 0.5, "val"))
    req = job.send(ProposerReply(texts={"p": "Seed. kw2"}))
    req = job.send(_rollouts(req.candidate, batch, 0.5, "train"))  # type: ignore[union-attr]
    assert isinstance(req, Evaluate) and req.split == "val"  # validated as it is


def _proposal(i: int, decision: str) -> Proposal:
    return Proposal(
        index=i, kind="reflection", parent_ids=("x",), child_id=None, components=(),
        decision=decision, reason="",
    )  # fmt: skip


def _driver(state: EngineState) -> Driver:
    return Driver(
        state,
        run_rollout=lambda c, e, s: None,
        executor=InlineExecutor(),
        proposer=None,
        proposer_executor=InlineExecutor(),
        store=MemoryStore(),
        sink=EventSink(),
    )


def test_the_live_number_of_proposals_follows_acceptance_and_how_the_proposer_edits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    val = [Example(id="v0", data={})]
    state = EngineState(
        Candidate.of({"p": "x"}), val, val, SearchConfig(max_concurrent_proposals=4), Budget(10)
    )
    driver = _driver(state)
    assert driver._live_k() == 1  # nothing known yet: as serial
    state.proposals = [_proposal(i, "rejected") for i in range(3)]
    assert driver._live_k() == 4  # 1 / ((0 + 1) / (3 + 1))
    state.edits = [3, 0]  # edits in place: stale children rebase
    assert driver._live_k() == 4
    state.edits = [0, 3]  # every reply rewrote the text: r = 3 / 4, q = 15 / 16
    with caplog.at_level(logging.INFO, logger="gepakit"):
        assert driver._live_k() == 1  # 1 + int(0.1 / (1 / 4 * 15 / 16))
        assert driver._live_k() == 1
    (told,) = [r.getMessage() for r in caplog.records if "rewrote" in r.getMessage()]
    assert "running 1 at once" in told and "3 of the proposer's 3 replies" in told
    state.proposals += [_proposal(i, "rejected") for i in range(3, 19)]  # p = 1 / 20
    assert driver._live_k() == 3  # 1 + int(0.1 / (1 / 20 * 15 / 16))
    state.edits = [15, 3]  # a few rewrites: r = 3 / 19, q ~ 0.29
    assert driver._live_k() == 4  # 1 + int(6.9), capped
    state.proposals += [_proposal(19, "accepted"), _proposal(20, "accepted")]
    assert driver._live_k() == 3  # 1 / (3 / 22) = 7.3 and 1 + int(0.1 / (3 / 22 * 0.29))
    state.proposals += [_proposal(i, "accepted") for i in range(21, 40)]
    assert driver._live_k() == 1
    # A child in validation that no proposal builds on yet: one more, to pipeline.
    child = Candidate.of({"p": "y"})
    state.in_validation[child.id] = (child, 0)
    assert driver._live_k() == 2
    state.speculated.add(child.id)
    assert driver._live_k() == 1


def test_kept_share_tells_edits_in_place_from_rewrites() -> None:
    base = "Answer the question in one word."
    assert kept_share(base, base + " Be brief.") == 1.0
    assert kept_share(base, "Answer the question in a word.") == 5 / 6
    assert kept_share(base, "In one word, reply to what is asked.") < 0.5
    assert kept_share("", "Anything.") == 1.0


@pytest.mark.parametrize(("rewrites", "counted"), [(False, [2, 0]), (True, [0, 2])])
def test_each_reply_is_counted_as_an_edit_in_place_or_a_rewrite(
    rewrites: bool, counted: list[int]
) -> None:
    state, seed = _seeded("Answer the question in one word.", train=6)
    texts = (
        ["Question: answer it, one word only.", "One word: that is the answer to give."]
        if rewrites
        else ["Answer the question in one word. kw1", "Answer the question in one word. kw2"]
    )
    for i, text in enumerate(texts):
        job = reflective_job(state, i)
        batch = next(job).example_ids  # type: ignore[union-attr]
        job.send(_rollouts(seed, batch, 0.0, "train"))
        job.send(ProposerReply(texts={"p": text}))
    assert state.edits == counted
    serial, seed = _seeded("Answer the question.", proposals=1)
    job = reflective_job(serial, 0)
    job.send(_rollouts(seed, next(job).example_ids, 0.0, "train"))  # type: ignore[union-attr]
    job.send(ProposerReply(texts={"p": "Reply."}))
    assert serial.edits == [0, 0]  # a serial run does not count


def test_children_that_pass_together_commit_in_turn_each_rebased_on_the_one_before() -> None:
    state, seed = _seeded("Seed.", train=6)
    first, second = reflective_job(state, 0), reflective_job(state, 1)
    batches = [next(job).example_ids for job in (first, second)]  # type: ignore[union-attr]
    assert batches[0] != batches[1]  # both on the seed, on their own minibatches

    def pass_minibatch(job: Any, text: str, batch: tuple[str, ...]) -> tuple[Candidate, Any]:
        job.send(_rollouts(seed, batch, 0.0, "train"))
        req = job.send(ProposerReply(texts={"p": text}))
        assert isinstance(req, Evaluate)
        return req.candidate, job.send(_rollouts(req.candidate, batch, 0.5, "train"))

    first_child, first_val = pass_minibatch(first, "Seed. kw1", batches[0])
    assert isinstance(first_val, Evaluate) and first_val.split == "val"  # it has the turn
    assert state.commit_turn == first_child.id
    _, req = pass_minibatch(second, "Seed. kw2", batches[1])
    assert isinstance(req, Await) and req.candidate_id == first_child.id  # it waits
    assert first_val.candidate == first_child
    with pytest.raises(StopIteration):
        first.send(_rollouts(first_child, ("v0", "v1"), 0.5, "val"))
    assert state.commit_turn is None
    # Its turn now: tested on the first child (added meanwhile), then rebased onto it.
    req = second.send(1)
    assert isinstance(req, Evaluate) and req.candidate == first_child
    assert req.example_ids == batches[1]
    req = second.send(_rollouts(first_child, batches[1], 0.5, "train"))
    assert isinstance(req, Evaluate)
    assert dict(req.candidate.components) == {"p": "Seed. kw1 kw2"}
    assert state.commit_turn is not None


def test_a_stale_child_whose_edit_does_not_carry_over_is_rejected_untested() -> None:
    state, seed = _seeded("Seed text.")
    job = reflective_job(state, 0)
    batch = next(job).example_ids  # type: ignore[union-attr]
    job.send(_rollouts(seed, batch, 0.0, "train"))
    # Meanwhile a sibling rewrote the same words and beats the seed on the valset.
    sibling = seed.replace_texts({"p": "Other words."})
    state.add_candidate(sibling, (0,), "reflection", _rollouts(sibling, ("v0", "v1"), 0.5, "val"))
    with pytest.raises(StopIteration) as stop:  # no minibatch test, no valset pass
        job.send(ProposerReply(texts={"p": "Seed words."}))
    proposal = stop.value.value
    assert proposal.decision == "rejected" and proposal.reason.startswith("not tested")
    assert "candidate 1" in proposal.reason and proposal.child_scores == ()
    assert len(state.candidates) == 2


def test_a_stale_child_superseded_during_its_minibatch_test_is_rejected_not_validated() -> None:
    state, seed = _seeded("Seed text.")
    job = reflective_job(state, 0)
    batch = next(job).example_ids  # type: ignore[union-attr]
    job.send(_rollouts(seed, batch, 0.0, "train"))
    req = job.send(ProposerReply(texts={"p": "Seed words."}))
    assert isinstance(req, Evaluate)  # not stale yet: tested
    # While it is tested, a sibling that rewrote the same words beats the seed.
    sibling = seed.replace_texts({"p": "Other words."})
    state.add_candidate(sibling, (0,), "reflection", _rollouts(sibling, ("v0", "v1"), 0.5, "val"))
    with pytest.raises(StopIteration) as stop:
        job.send(_rollouts(req.candidate, batch, 0.5, "train"))  # beats its old parent
    proposal = stop.value.value
    assert proposal.decision == "rejected" and "supersedes it" in proposal.reason
    assert len(state.candidates) == 2  # no valset pass, no sibling added


def test_concurrent_proposals_with_the_same_text_validate_it_once() -> None:
    """Two proposals in flight reply with the same text: the first validates it, the
    other is rejected without a second valset pass, live and in replay."""
    import contextlib
    import itertools
    import threading
    from collections import Counter

    import gepakit

    val_calls: Counter[str] = Counter()
    lock = threading.Lock()
    gate = threading.Barrier(2, timeout=5)
    replies = itertools.count()

    def evaluate(candidate: dict[str, str], example: dict[str, Any]) -> float:
        if example["id"].startswith("v"):
            with lock:
                val_calls[candidate["p"]] += 1
        return 1.0 if "fixed" in candidate["p"] else 0.0

    def propose(candidate: Any, dataset: Any, components: Any) -> dict[str, str]:
        with lock:
            n = next(replies)
        if n < 5:  # rejected: the engine widens to several proposals in flight
            return {"p": f"Seed. nothing {n}"}
        with contextlib.suppress(threading.BrokenBarrierError):
            gate.wait()  # the next two reply together, so both are in flight
            gate.abort()  # later proposals do not wait
        return {"p": "Seed. fixed"}

    train = [{"id": f"t{i}"} for i in range(6)]
    val = [{"id": f"v{i}"} for i in range(4)]
    store = MemoryStore()
    options: dict[str, Any] = {
        "evaluator": evaluate, "instruction_proposer": propose, "max_metric_calls": 60,
        "workers": 4, "max_concurrent_proposals": 2, "use_merge": False, "store": store,
        "skip_perfect_score": False, "seed": 0,
    }  # fmt: skip
    result = gepakit.optimize({"p": "Seed."}, train, val, **options)
    assert val_calls["Seed. fixed"] == len(val)  # one valset pass for the shared text
    assert result.candidates.count({"p": "Seed. fixed"}) == 1
    same = [p for p in result.proposals if "same texts" in p.reason]
    assert same and all(p.decision == "rejected" for p in same)
    again = gepakit.optimize({"p": "Seed."}, train, val, **options)  # replay only
    assert {**again.to_dict(), "usage": None} == {**result.to_dict(), "usage": None}


def test_a_run_whose_proposer_rewrites_replays_exactly() -> None:
    """The live number of proposals reads counts the jobs make (`state.edits`): a resumed
    run rebuilds them and makes the same decisions."""
    import hashlib
    import random

    import gepakit

    def evaluate(candidate: dict[str, str], example: dict[str, Any]) -> float:
        return float(example["kw"] in candidate["p"].split())

    def propose(candidate: Any, dataset: Any, components: Any) -> dict[str, str]:
        words = candidate["p"].split()
        rng = random.Random(hashlib.sha256(candidate["p"].encode()).digest())
        words.append(f"kw{rng.randrange(8)}")
        rng.shuffle(words)  # a whole new text each time
        return {"p": " ".join(words)}

    train = [{"id": f"t{i}", "kw": f"kw{i % 8}"} for i in range(8)]
    val = [{"id": f"v{i}", "kw": f"kw{i % 8}"} for i in range(8)]
    store = MemoryStore()
    options: dict[str, Any] = {
        "evaluator": evaluate, "instruction_proposer": propose, "max_metric_calls": 150,
        "workers": 4, "max_concurrent_proposals": 4, "use_merge": False, "store": store,
        "seed": 0,
    }  # fmt: skip
    result = gepakit.optimize({"p": "Answer the question now."}, train, val, **options)
    assert result.total_metric_calls <= 150 and len(result.proposals) > 3
    again = gepakit.optimize({"p": "Answer the question now."}, train, val, **options)
    assert {**again.to_dict(), "usage": None} == {**result.to_dict(), "usage": None}


def test_admission_keeps_the_expected_valset_passes_of_untested_proposals_free() -> None:
    """Two proposals in flight, children untested: a third starts only if the calls left
    cover their next requests plus their valset passes times the acceptance rate."""
    state, _ = _seeded("Seed.", train=6, val=30, proposals=4)
    state.budget = Budget(42)
    driver = _driver(state)
    driver.seed_started = True
    driver.running = {7: None, 8: None}  # type: ignore[dict-item]  # two jobs in flight
    state.job_need.update({7: 3, 8: 3})  # their child minibatches
    state.job_maybe.update({7: 30, 8: 30})  # and their valsets, if the children pass
    # Nothing known yet (rate 1): 42 - 6 - 60 leaves no minibatch step.
    assert driver._next_job() is None
    assert state.stop_reason is None  # running jobs may still use the calls
    driver.tested = (9, 0, 0)  # 1 accepted in 10: 6 expected valset calls kept free
    assert driver._next_job() is not None  # 42 - 6 - 6 = 30 calls for a new step
