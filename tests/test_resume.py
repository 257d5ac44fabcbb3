"""Resuming runs through `optimize(run_dir=...)`, the shared cache, and `load_run`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import gepakit
from gepakit.engine.loop import MAX_FREE_PROPOSALS
from gepakit.errors import ResumeMismatchError, RunInUseError, StoreError
from gepakit.store.sqlite import SQLiteStore
from store import fake_task  # tests/store, on sys.path via pytest rootdir insertion


def run(run_dir: Path | None, evaluator: Any = None, **kw: Any) -> gepakit.Result:
    args: dict[str, Any] = {
        "evaluator": evaluator or fake_task.Evaluator(),
        "reflection_lm": fake_task.reflection(),
        "max_metric_calls": 120,
        "seed": 1,
        "run_dir": run_dir,
        **kw,
    }
    return gepakit.optimize(fake_task.SEED, fake_task.TRAIN, fake_task.VAL, **args)


def same(a: gepakit.Result, b: gepakit.Result) -> None:
    da, db = a.to_dict(), b.to_dict()
    for key in ("usage", "run_dir", "cache_hits"):
        da.pop(key)
        db.pop(key)
    assert da == db


def test_calling_again_with_a_finished_run_dir_replays_it_without_any_call(
    tmp_path: Path,
) -> None:
    first = run(tmp_path)
    ev = fake_task.Evaluator()
    again = run(tmp_path, evaluator=ev)
    assert ev.calls == 0
    same(first, again)
    same(first, gepakit.load_run(tmp_path))


def test_resume_with_a_larger_budget_continues_like_one_longer_run(tmp_path: Path) -> None:
    # 50 calls end right after a full val evaluation; a session that ends on a partial
    # one replays under its own limit (see the next test), unlike one longer run.
    first = run(tmp_path / "a", max_metric_calls=50)
    assert {len(s) for s in first.val_subscores} == {len(fake_task.VAL)}
    extended = run(tmp_path / "a", max_metric_calls=120)
    straight = run(tmp_path / "b", max_metric_calls=120)
    same(extended, straight)


def test_a_run_ending_on_a_partial_val_evaluation_extends_and_replays_exactly(
    tmp_path: Path,
) -> None:
    short = run(tmp_path, max_metric_calls=32)
    assert [len(s) for s in short.val_subscores] == [8, 8, 4]  # the last child: 4 of 8
    extended = run(tmp_path, max_metric_calls=120)
    # The first session's history replays under its own limit: its last child stays
    # partially evaluated and its proposals are the extended run's first ones.
    assert dict(extended.val_subscores[2]) == dict(short.val_subscores[2])
    assert extended.proposals[: len(short.proposals)] == short.proposals
    assert 120 - 6 < extended.total_metric_calls <= 120
    ev = fake_task.Evaluator()
    again = run(tmp_path, evaluator=ev, max_metric_calls=120)  # two sessions replayed
    assert ev.calls == 0
    same(extended, again)
    bigger = run(tmp_path, max_metric_calls=200)  # a third limit
    assert bigger.proposals[: len(extended.proposals)] == extended.proposals


def test_stop_file_returns_the_result_so_far_and_resume_continues(tmp_path: Path) -> None:
    class Stopper(fake_task.Evaluator):
        def __call__(self, candidate: Any, example: Any) -> Any:
            if self.calls == 40:
                (tmp_path / "run" / "STOP").touch()
            return super().__call__(candidate, example)

    stopped = run(tmp_path / "run", evaluator=Stopper())
    assert stopped.stop_reason == "stopped on request"
    assert stopped.total_metric_calls < 120
    resumed = run(tmp_path / "run")
    assert not (tmp_path / "run" / "STOP").exists()
    same(resumed, run(tmp_path / "straight"))


def test_a_different_configuration_is_refused_and_says_what_differs(tmp_path: Path) -> None:
    run(tmp_path, max_metric_calls=60)
    ev = fake_task.Evaluator()
    with pytest.raises(ResumeMismatchError) as info:
        gepakit.optimize(
            {"instruction": "Other."},
            fake_task.TRAIN,
            fake_task.VAL[:-1],
            evaluator=ev,
            reflection_lm=fake_task.reflection(),
            max_metric_calls=60,
            reflection_minibatch_size=2,
            seed=2,
            run_dir=tmp_path,
        )
    text = str(info.value)
    for part in ("seed_candidate", "valset: 8 examples stored, 7 given", "minibatch_size", "seed"):
        assert part in text
    assert "trainset" not in text
    assert ev.calls == 0
    with pytest.raises(ResumeMismatchError, match="not lower it"):
        run(tmp_path, max_metric_calls=50)
    changed = [dict(ex, word="zulu") if ex["id"] == "v3" else ex for ex in fake_task.VAL]
    with pytest.raises(ResumeMismatchError, match=r"content of 1 examples differs \(e.g. 'v3'\)"):
        gepakit.optimize(
            fake_task.SEED,
            fake_task.TRAIN,
            changed,
            evaluator=fake_task.Evaluator(),
            reflection_lm=fake_task.reflection(),
            max_metric_calls=60,
            seed=1,
            run_dir=tmp_path,
        )


def test_a_run_in_use_or_an_unwritable_run_dir_fails_before_any_call(tmp_path: Path) -> None:
    ev = fake_task.Evaluator()
    with SQLiteStore(tmp_path / "busy"), pytest.raises(RunInUseError):
        run(tmp_path / "busy", evaluator=ev)
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError):
        run(tmp_path / "file" / "run", evaluator=ev)
    assert ev.calls == 0


def test_shared_cache_hits_cost_no_budget(tmp_path: Path) -> None:
    cache = tmp_path / "cache.db"
    first = run(tmp_path / "a", cache=cache)
    ev = fake_task.Evaluator()
    second = run(tmp_path / "b", evaluator=ev, cache=cache)
    assert second.cache_hits > 0
    assert second.total_metric_calls == ev.calls
    assert second.val_aggregate_scores[0] == first.val_aggregate_scores[0]
    ev_mem = fake_task.Evaluator()
    third = run(None, evaluator=ev_mem, cache=cache)  # cache without a run_dir
    assert third.cache_hits > 0 and third.total_metric_calls == ev_mem.calls


def test_a_warm_shared_cache_is_not_a_stall(tmp_path: Path) -> None:
    # A re-run over a cache warmed by an identical run gets the first run's proposals
    # for free; they propose new texts, so the run goes on past them and pays for more.
    cache = tmp_path / "cache.db"
    first = run(tmp_path / "a", cache=cache, max_metric_calls=300)
    ev = fake_task.Evaluator()
    second = run(tmp_path / "b", evaluator=ev, cache=cache, max_metric_calls=300)
    assert second.cache_hits > 0

    def path(r: gepakit.Result) -> list[tuple[str | None, str]]:
        return [(p.child_id, p.decision) for p in r.proposals]

    assert path(second)[: len(first.proposals)] == path(first)
    assert ev.calls == second.total_metric_calls > 200
    assert second.best_score >= first.best_score
    if second.stop_reason.startswith("stalled"):  # then for real: nothing new any more
        seen: set[str | None] = set()
        new_texts = []
        for p in second.proposals:
            new_texts.append(p.child_id is not None and p.child_id not in seen)
            seen.add(p.child_id)
        assert not any(new_texts[-MAX_FREE_PROPOSALS:])


def test_load_run_of_an_empty_or_missing_dir_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no gepakit run"):
        gepakit.load_run(tmp_path)


def _tradeoff_task() -> tuple[Any, Any]:
    """ToyTask with two components where each rule in the other component costs an
    example 0.04: children trade one part against the other, so lineages branch and
    some merges fail their subsample test."""
    from gepakit.testing import ToyTask

    task = ToyTask(num_rules=8, train_size=16, val_size=16, components=("a", "b"))

    def evaluate(candidate: Any, example: Any) -> gepakit.Score:
        score = task.evaluate(candidate, example)
        part = task.component_of(example["needs"][0])
        other = sum(text.count("[R") for name, text in candidate.items() if name != part)
        return gepakit.Score(max(0.0, score.score - 0.04 * other), feedback=score.feedback)

    return task, evaluate


def test_a_run_with_kept_and_failed_merges_replays_and_extends_exactly(tmp_path: Path) -> None:
    task, evaluate = _tradeoff_task()

    def go(run_dir: Path, budget: int) -> gepakit.Result:
        return gepakit.optimize(
            task.seed_candidate, task.trainset, task.valset, evaluator=evaluate,
            reflection_lm=task.reflect, max_metric_calls=budget, seed=2, use_merge=True,
            reflection_minibatch_size=3, run_dir=run_dir,
        )  # fmt: skip

    first = go(tmp_path / "a", 300)
    merges = [p.decision for p in first.proposals if p.kind == "merge"]
    assert "accepted" in merges and "rejected" in merges
    assert first.origins.count("merge") == merges.count("accepted") <= 5
    calls = task.calls
    same(first, go(tmp_path / "a", 300))  # replayed from the store
    assert task.calls == calls
    # A second session continues the first one's history, merge chances included.
    short = go(tmp_path / "b", 150)
    assert [p.kind for p in short.proposals].count("merge") >= 1
    extended = go(tmp_path / "b", 300)
    assert extended.proposals[: len(short.proposals)] == short.proposals
    assert extended.origins.count("merge") <= 5
    assert 300 - 6 < extended.total_metric_calls <= 300
    calls = task.calls
    same(go(tmp_path / "b", 300), extended)  # two sessions replayed
    assert task.calls == calls
