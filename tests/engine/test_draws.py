"""eval_repeats and reuse_evaluations: draws, their fold, the budget, replay (engine/draws.py)."""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import gepakit
from gepakit import optimize
from gepakit.engine.draws import DRAW_MARK, Draws, draw_id, fold, split_draw
from gepakit.engine.steps import Evaluate
from gepakit.errors import ConfigError, ResumeMismatchError
from gepakit.store.sqlite import SQLiteStore
from gepakit.testing import NoisyEvaluator, ToyTask
from gepakit.types import Candidate, Rollout


def run(task: ToyTask, evaluator: Any = None, **overrides: Any) -> gepakit.Result:
    args: dict[str, Any] = {
        "evaluator": evaluator or task.evaluate,
        "reflection_lm": task.reflect,
        "max_metric_calls": 150,
        "seed": 0,
        "progress": False,
    }
    args.update(overrides)
    return optimize(task.seed_candidate, task.trainset, task.valset, **args)


def true_val(task: ToyTask, candidate: dict[str, str]) -> float:
    return statistics.fmean(task.score(candidate, ex).score for ex in task.valset)


def rollout(score: float, feedback: str | None = None, **more: Any) -> Rollout:
    return Rollout(
        candidate_id="c", example_id="e", split="train", score=score, feedback=feedback, **more
    )


# -- draws and their fold ------------------------------------------------------------------


def test_draw_ids_round_trip_and_draw_zero_is_the_example_itself() -> None:
    assert draw_id("e1", 0) == "e1"
    assert split_draw("e1") == ("e1", 0)
    for eid in ("e1", "a#1", "x" + DRAW_MARK):
        assert split_draw(draw_id(eid, 3)) == (eid, 3)


def test_the_fold_averages_keeps_the_worst_draw_and_lists_each_feedback() -> None:
    folded = fold(
        [
            rollout(1.0, "fine", output="good", objectives={"f1": 1.0}),
            rollout(0.0, "wrong answer", output="bad", objectives={"f1": 0.5}),
            rollout(0.5, "fine", output="meh", objectives={"f1": 0.0}),
        ]
    )
    assert folded.score == pytest.approx(0.5)
    assert folded.objectives == {"f1": pytest.approx(0.5)}
    assert folded.output == "bad"  # the lowest-scoring draw is what reflection sees
    assert folded.error is None
    assert folded.feedback == (
        "Scored 1, 0, 0.5 in 3 runs of this example (mean 0.5; noisy). "
        "Run 2 (score 0): wrong answer. Runs 1 and 3 (score 1, 0.5): fine."
    )


def test_identical_draws_fold_to_the_same_feedback_and_failures_only_when_all_fail() -> None:
    same = fold([rollout(1.0, "correct"), rollout(1.0, "correct")])
    assert (same.score, same.feedback) == (1.0, "correct")
    failed = [rollout(0.0, "boom", error="E"), rollout(0.0, "boom", error="E")]
    assert fold(failed).error == "E"
    assert fold([failed[0], rollout(1.0, "ok")]).error is None


def test_without_reuse_each_request_gets_fresh_draws_until_given_back() -> None:
    draws = Draws(repeats=2, reuse=False)
    req = Evaluate(Candidate(components={"p": "x"}), ("a", "b"), "train")
    first = draws.expand(req)
    assert first.example_ids == ("a", draw_id("a", 1), "b", draw_id("b", 1))
    draws.hold(1, first)
    second = draws.expand(req)
    assert second.example_ids == tuple(draw_id(e, d) for e in "ab" for d in (2, 3))
    draws.hold(2, second)
    draws.release(1)  # job 1's result was never delivered: a resume asks for it again
    assert draws.expand(req) == first
    with_reuse = Draws(repeats=2)
    with_reuse.hold(1, with_reuse.expand(req))
    assert with_reuse.expand(req) == first  # the first two draws, whoever paid them


# -- the defaults ---------------------------------------------------------------------------


def test_the_defaults_change_nothing_for_a_deterministic_evaluator() -> None:
    plain = run(ToyTask(num_rules=3)).to_dict()
    explicit = run(ToyTask(num_rules=3), eval_repeats=1, reuse_evaluations=True).to_dict()
    assert plain == explicit


@pytest.mark.parametrize(("budget", "extra"), [(60, 0), (37, 0), (37, 2)])
def test_repeats_of_a_deterministic_evaluator_search_the_same_at_n_times_the_calls(
    budget: int, extra: int
) -> None:
    # At 37 calls the last child's val evaluation is cut to what fits (5 of 10 examples):
    # with 3 repeats and 3 x 37 (+2) calls the same 5 examples get their 3 draws each.
    one_task = ToyTask(num_rules=6, train_size=10, val_size=10)
    three_task = ToyTask(num_rules=6, train_size=10, val_size=10)
    one = run(one_task, max_metric_calls=budget)
    three = run(three_task, max_metric_calls=3 * budget + extra, eval_repeats=3)
    for key in ("candidates", "parents", "val_aggregate_scores", "val_subscores"):
        assert getattr(three, key) == getattr(one, key), key
    assert [p.decision for p in three.proposals] == [p.decision for p in one.proposals]
    assert three.total_metric_calls == 3 * one.total_metric_calls == three_task.calls
    assert three.discovery_eval_counts == tuple(3 * c for c in one.discovery_eval_counts)


# -- noisy evaluators -----------------------------------------------------------------------


def test_repeats_reduce_the_variance_of_the_chosen_best_on_a_noisy_evaluator() -> None:
    chosen: dict[int, list[float]] = {1: [], 4: []}
    for repeats in chosen:
        for seed in range(10):
            task = ToyTask(num_rules=6, train_size=12, val_size=12)
            noisy = NoisyEvaluator(task.score, noise=0.5, seed=seed)
            result = run(
                task, noisy, seed=seed, max_metric_calls=120 * repeats, eval_repeats=repeats
            )
            assert noisy.calls == result.total_metric_calls <= 120 * repeats
            chosen[repeats].append(true_val(task, dict(result.best_candidate)))
    # Same number of evaluations: the mean of 4 draws picks a truly better best, reliably.
    assert statistics.fmean(chosen[4]) > statistics.fmean(chosen[1]) + 0.1
    assert statistics.pstdev(chosen[4]) < 0.6 * statistics.pstdev(chosen[1])


def test_reflection_sees_every_draws_score_and_feedback() -> None:
    task = ToyTask(num_rules=3)
    seen: list[str] = []

    def proposer(candidate: Any, dataset: Any, components: Any) -> dict[str, str]:
        seen.extend(str(r["Feedback"]) for rs in dataset.values() for r in rs)
        return task.proposer(candidate, dataset, components)

    noisy = NoisyEvaluator(task.score, noise=0.5, seed=3)
    run(task, noisy, instruction_proposer=proposer, reflection_lm=None, eval_repeats=3)
    mixed = [f for f in seen if f.startswith("Scored ")]
    assert mixed, seen
    assert all(" in 3 runs of this example " in f for f in mixed)
    assert any("missing [R" in f and "judged at random" in f for f in mixed)


def test_without_reuse_a_parents_minibatch_is_evaluated_again_each_proposal() -> None:
    reused, fresh = ToyTask(num_rules=4), ToyTask(num_rules=4)
    counted_reused = NoisyEvaluator(reused.score, noise=0.0)
    counted_fresh = NoisyEvaluator(fresh.score, noise=0.0)
    a = run(reused, counted_reused, max_metric_calls=100)
    b = run(fresh, counted_fresh, max_metric_calls=100, reuse_evaluations=False)
    assert max(counted_reused.pair_calls.values()) == 1  # every pair once, then from cache
    assert a.cache_hits > 0
    assert max(counted_fresh.pair_calls.values()) > 1
    assert b.cache_hits == 0
    assert counted_fresh.calls == b.total_metric_calls <= 100
    # Each proposal paid its parent's minibatch: the proposals skipped as perfect cost calls.
    skipped = [p for p in b.proposals if "perfectly" in p.reason]
    assert skipped and len({p.metric_calls_at for p in skipped}) == len(skipped)


def test_sinks_see_one_rollout_per_evaluated_example_with_the_mean_score() -> None:
    class Recorder(gepakit.EventSink):
        def __init__(self) -> None:
            self.rollouts: list[Rollout] = []

        def rollout_finished(self, rollout: Rollout) -> None:
            self.rollouts.append(rollout)

    task = ToyTask(num_rules=3)
    sink = Recorder()
    result = run(task, NoisyEvaluator(task.score, noise=0.5), eval_repeats=3, callbacks=[sink])
    seed_val = [r for r in sink.rollouts if r.split == "val"][: len(task.valset)]
    assert [r.example_id for r in seed_val] == [e["id"] for e in task.valset]
    assert {r.example_id: r.score for r in seed_val} == dict(result.val_subscores[0])
    assert all(DRAW_MARK not in r.example_id for r in sink.rollouts)


class _BatchToy:
    """A fake batch evaluator over a ToyTask that records the example ids of each call."""

    def __init__(self, task: ToyTask) -> None:
        self.task = task
        self.batches: list[list[str]] = []

    def __call__(self, candidate: Any, example: Any) -> Any:
        raise AssertionError("a batch evaluator is called per request, not per example")

    def evaluate_batch(
        self, candidate: Candidate, examples: Any, split: Any, capture_traces: bool
    ) -> list[Rollout]:
        self.batches.append([e.id for e in examples])
        out = []
        for e in examples:
            score = self.task.score(dict(candidate.components), e.data)
            out.append(
                Rollout(
                    candidate_id=candidate.id,
                    example_id=e.id,
                    split=split,
                    score=score.score,
                    feedback=score.feedback,
                )
            )
        return out


def test_a_batch_evaluator_gets_each_example_n_times_under_its_own_id() -> None:
    plain = run(ToyTask(num_rules=4), _BatchToy(ToyTask(num_rules=4)), max_metric_calls=60)
    batch = _BatchToy(ToyTask(num_rules=4))
    repeated = run(ToyTask(num_rules=4), batch, max_metric_calls=120, eval_repeats=2)
    assert repeated.candidates == plain.candidates
    assert repeated.val_subscores == plain.val_subscores
    assert all(DRAW_MARK not in eid for ids in batch.batches for eid in ids)
    assert all(n == 2 for ids in batch.batches for n in Counter(ids).values())
    assert sum(map(len, batch.batches)) == repeated.total_metric_calls


# -- the budget -----------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [36, 37, 41, 60, 97, 150])
@pytest.mark.parametrize(("repeats", "reuse"), [(3, True), (1, False), (2, False)])
@pytest.mark.parametrize("workers", [1, 4])
def test_the_budget_is_exact_with_repeats_and_without_reuse(
    budget: int, repeats: int, reuse: bool, workers: int
) -> None:
    task = ToyTask(num_rules=5, train_size=10, val_size=6)
    noisy = NoisyEvaluator(task.score, noise=0.3, seed=budget)
    result = run(
        task,
        noisy,
        max_metric_calls=budget,
        eval_repeats=repeats,
        reuse_evaluations=reuse,
        workers=workers,
        max_concurrent_proposals=2 if workers > 1 else 1,
    )
    assert noisy.calls == result.total_metric_calls <= budget
    assert all(n <= repeats for n in noisy.pair_calls.values()) or not reuse
    if result.stop_reason.startswith("budget exhausted"):  # stopped with less than a step
        assert budget - result.total_metric_calls < 2 * 3 * repeats


def test_a_budget_that_cannot_score_the_seed_n_times_is_refused_before_any_call() -> None:
    task = ToyTask(val_size=6)
    with pytest.raises(ConfigError, match=r"eval_repeats=3.*at least 18"):
        run(task, max_metric_calls=17, eval_repeats=3)
    assert task.calls == 0
    with pytest.warns(UserWarning, match=r"needs 36: \(valset 6 \+ 2 x minibatch\) x eval_"):
        result = run(task, max_metric_calls=18, eval_repeats=3)
    assert result.total_metric_calls == 18 and len(result.candidates) == 1


def test_auto_and_full_eval_budgets_count_evaluations_so_repeats_scale_them() -> None:
    one, three = ToyTask(num_rules=3), ToyTask(num_rules=3)
    a = run(one, max_metric_calls=None, max_full_evals=2)
    b = run(three, max_metric_calls=None, max_full_evals=2, eval_repeats=3)
    assert a.max_metric_calls == 2 * (8 + 6)
    assert b.max_metric_calls == 3 * a.max_metric_calls


@pytest.mark.parametrize(
    ("option", "value"),
    [
        *[("eval_repeats", v) for v in (0, 1.5, True, "2")],
        *[("reuse_evaluations", v) for v in ("no", None, 0)],
    ],
)
def test_bad_values_are_refused_naming_the_option(option: str, value: Any) -> None:
    task = ToyTask()
    with pytest.raises(ConfigError, match=option):
        run(task, **{option: value})
    assert task.calls == 0


def test_a_shared_cache_cannot_serve_a_run_without_reuse(tmp_path: Path) -> None:
    task = ToyTask()
    with pytest.raises(ConfigError, match=r"cache=.*reuse_evaluations=False"):
        run(task, cache=tmp_path / "cache.db", reuse_evaluations=False)
    assert task.calls == 0


def test_an_example_id_holding_the_draw_mark_is_refused_with_repeats() -> None:
    task = ToyTask()
    task.trainset[0]["id"] = "t" + DRAW_MARK + "1"
    with pytest.raises(ConfigError, match="U\\+FDD1"):
        run(task, eval_repeats=2)


# -- the shared cache -----------------------------------------------------------------------


def test_the_shared_cache_serves_the_first_n_draws_to_a_later_run(tmp_path: Path) -> None:
    cache = tmp_path / "cache.db"
    first_task = ToyTask(num_rules=3)
    first = run(first_task, NoisyEvaluator(first_task.score, seed=1), cache=cache, eval_repeats=2)
    again = NoisyEvaluator(first_task.score, seed=1)
    second = run(ToyTask(num_rules=3), again, cache=cache, eval_repeats=2)
    assert again.calls == 0  # every draw the second run asks for is cached
    assert second.val_aggregate_scores == first.val_aggregate_scores


def test_without_reuse_a_stores_shared_rollouts_serve_nothing() -> None:
    from gepakit.store.memory import MemoryStore

    warm = MemoryStore()
    run(ToyTask(num_rules=3), store=MemoryStore(shared=warm))
    assert warm.rollouts  # another run's evaluations, shared through the store
    task = ToyTask(num_rules=3)
    result = run(task, store=MemoryStore(shared=warm), reuse_evaluations=False)
    assert result.cache_hits == 0
    assert task.calls == result.total_metric_calls > 0
    again = ToyTask(num_rules=3)
    assert run(again, store=MemoryStore(shared=warm)).cache_hits > 0  # with reuse: served
    assert again.calls == 0


# -- resume and replay ----------------------------------------------------------------------


def comparable(result: gepakit.Result) -> dict[str, Any]:
    out = result.to_dict()
    for key in ("usage", "run_dir", "cache_hits"):
        out.pop(key)
    return out


@pytest.mark.parametrize(("repeats", "reuse"), [(3, True), (2, False)])
def test_a_finished_noisy_run_replays_and_loads_without_any_call(
    tmp_path: Path, repeats: int, reuse: bool
) -> None:
    task = ToyTask(num_rules=5, train_size=10)
    options = {"eval_repeats": repeats, "reuse_evaluations": reuse, "max_metric_calls": 200}
    first = run(task, NoisyEvaluator(task.score, noise=0.4), run_dir=tmp_path, **options)
    again = NoisyEvaluator(task.score, noise=0.4, seed=99)  # other noise: never called
    replayed = run(task, again, run_dir=tmp_path, **options)
    assert again.calls == 0
    assert comparable(replayed) == comparable(first)
    assert comparable(gepakit.load_run(tmp_path)) == comparable(first)
    with SQLiteStore(tmp_path, readonly=True) as store:
        draws = Counter(split_draw(r.example_id)[1] for _, r in store.rollouts())
        assert store.paid_count == first.total_metric_calls
    assert set(draws) >= set(range(repeats))
    if not reuse:
        assert max(draws) >= repeats  # parents' minibatches were drawn again


def test_an_interrupted_noisy_run_resumes_like_one_uninterrupted_run(tmp_path: Path) -> None:
    # The same evaluator object continues its per-pair noise sequence in the second
    # session, so a resume that replays exactly (and pays for nothing twice) calls it
    # exactly as the uninterrupted run did.
    options = {"eval_repeats": 2, "reuse_evaluations": False, "max_metric_calls": 180}
    task = ToyTask(num_rules=5, train_size=10)
    straight_ev = NoisyEvaluator(task.score, noise=0.4)
    straight = run(task, straight_ev, run_dir=tmp_path / "a", **options)

    stopping_ev = NoisyEvaluator(task.score, noise=0.4)
    calls_at_stop = 70

    def stop(view: Any) -> bool:
        return view.metric_calls >= calls_at_stop

    first = run(task, stopping_ev, run_dir=tmp_path / "b", stop_callback=stop, **options)
    assert first.total_metric_calls < straight.total_metric_calls
    resumed = run(task, stopping_ev, run_dir=tmp_path / "b", **options)
    assert stopping_ev.calls == straight_ev.calls == resumed.total_metric_calls
    assert stopping_ev.pair_calls == straight_ev.pair_calls
    for key in ("candidates", "parents", "val_aggregate_scores", "val_subscores"):
        assert getattr(resumed, key) == getattr(straight, key), key


def test_an_extended_run_without_reuse_replays_both_sessions_exactly(tmp_path: Path) -> None:
    # Replaying switches from the first session's limit to the second's mid-history:
    # the requests waiting then are budgeted again and must get the same draws.
    options = {"eval_repeats": 2, "reuse_evaluations": False}
    task = ToyTask(num_rules=5, train_size=10)
    noisy = NoisyEvaluator(task.score, noise=0.4)
    run(task, noisy, run_dir=tmp_path, max_metric_calls=71, **options)
    extended = run(task, noisy, run_dir=tmp_path, max_metric_calls=160, **options)
    assert extended.total_metric_calls > 71
    again = NoisyEvaluator(task.score, noise=0.4, seed=5)
    replayed = run(task, again, run_dir=tmp_path, max_metric_calls=160, **options)
    assert again.calls == 0
    assert comparable(replayed) == comparable(extended)
    assert comparable(gepakit.load_run(tmp_path)) == comparable(extended)


class _InterruptOnce:
    """Wraps an evaluator; raises KeyboardInterrupt (Ctrl-C twice) before call `at`."""

    def __init__(self, inner: NoisyEvaluator, at: int) -> None:
        self.inner, self.at, self.calls = inner, at, 0

    def __call__(self, candidate: Any, example: Any) -> Any:
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.inner(candidate, example)


@pytest.mark.parametrize(
    ("repeats", "reuse", "at"), [(3, True, 50), (2, False, 41), (1, False, 38)]
)
def test_a_run_broken_off_mid_request_resumes_paying_for_no_draw_twice(
    tmp_path: Path, repeats: int, reuse: bool, at: int
) -> None:
    options = {"eval_repeats": repeats, "reuse_evaluations": reuse, "max_metric_calls": 150}
    options["evaluator_id"] = "noisy-toy"
    task = ToyTask(num_rules=5, train_size=10)
    straight_ev = NoisyEvaluator(task.score, noise=0.4)
    straight = run(task, straight_ev, run_dir=tmp_path / "a", **options)
    inner = NoisyEvaluator(task.score, noise=0.4)
    with pytest.raises(KeyboardInterrupt):
        run(task, _InterruptOnce(inner, at), run_dir=tmp_path / "b", **options)
    assert inner.calls < straight_ev.calls  # the draws run are stored; the request is not done
    resumed = run(task, inner, run_dir=tmp_path / "b", **options)
    assert inner.pair_calls == straight_ev.pair_calls  # no draw paid twice, none skipped
    assert resumed.total_metric_calls == straight.total_metric_calls == inner.calls
    for key in ("candidates", "parents", "val_aggregate_scores", "val_subscores"):
        assert getattr(resumed, key) == getattr(straight, key), key


@pytest.mark.parametrize(
    ("option", "stored", "given"), [("eval_repeats", 2, 3), ("reuse_evaluations", True, False)]
)
def test_resuming_with_other_draw_settings_is_refused(
    tmp_path: Path, option: str, stored: Any, given: Any
) -> None:
    task = ToyTask(num_rules=3)
    run(task, run_dir=tmp_path, **{option: stored})
    with pytest.raises(ResumeMismatchError, match=f"{option}: stored {stored!r}, given {given!r}"):
        run(task, run_dir=tmp_path, **{option: given})


def test_a_run_stored_before_the_draw_options_resumes_with_the_defaults(tmp_path: Path) -> None:
    task = ToyTask(num_rules=3)
    first = run(task, run_dir=tmp_path)
    with SQLiteStore(tmp_path) as store:  # as an older gepakit wrote it: no draw keys
        spec = dict(store.meta()["spec"])
        spec["search"] = {
            k: v
            for k, v in spec["search"].items()
            if k not in ("eval_repeats", "reuse_evaluations")
        }
        store.put_meta({"spec": spec})
    assert comparable(run(task, run_dir=tmp_path)) == comparable(first)
    with pytest.raises(ResumeMismatchError, match="eval_repeats: stored 1, given 2"):
        run(task, run_dir=tmp_path, eval_repeats=2)
