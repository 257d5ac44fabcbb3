"""kill -9 with eval_repeats and reuse_evaluations=False: every draw is kept or run again once."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from gepakit.engine.draws import split_draw
from gepakit.runs import load_run
from gepakit.store.sqlite import SQLiteStore
from store.test_crash import comparable, evaluator_calls, interrupt_until_done, run_task

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")


def stored_draws(run_dir: Path) -> Counter[tuple[str, str, str]]:
    """How many times each (candidate, example, split, draw) key is stored (must be 1)."""
    with SQLiteStore(run_dir, readonly=True) as store:
        return Counter((r.candidate_id, r.example_id, r.split) for _, r in store.rollouts())


@pytest.mark.parametrize(
    "extra",
    [("--repeats", "2", "--no-reuse", "--budget", "240"), ("--repeats", "3", "--budget", "240")],
)
def test_kill9_with_repeated_draws_resumes_to_the_uninterrupted_result(
    tmp_path: Path, extra: tuple[str, ...]
) -> None:
    assert run_task(tmp_path, "base", *extra) == 0
    base = json.loads((tmp_path / "base.json").read_text())
    kills, _ = interrupt_until_done(tmp_path, "crashy", workers=1, seed=5, extra=extra)
    assert kills >= 3
    final = json.loads((tmp_path / "crashy.json").read_text())
    assert comparable(final) == comparable(base)
    assert final["total_metric_calls"] <= 240
    # Every key was stored once, and exactly the draws of the uninterrupted run were paid:
    # a resume found the draws that finished and ran only those that did not.
    assert stored_draws(tmp_path / "crashy") == stored_draws(tmp_path / "base")
    assert max(stored_draws(tmp_path / "crashy").values()) == 1
    draws = {split_draw(eid)[1] for _, eid, _ in stored_draws(tmp_path / "crashy")}
    repeats = int(extra[1])
    assert draws >= set(range(repeats))
    if "--no-reuse" in extra:
        assert max(draws) >= repeats  # parents' minibatches drawn again
    loaded = load_run(tmp_path / "crashy").to_dict()
    for key in ("candidates", "parents", "val_aggregate_scores", "val_subscores", "proposals"):
        assert loaded[key] == final[key], key


def test_kill9_with_concurrency_and_fresh_draws_never_overspends_and_replays(
    tmp_path: Path,
) -> None:
    extra = ("--repeats", "2", "--no-reuse", "--budget", "200")
    interrupt_until_done(tmp_path, "conc", workers=4, seed=13, extra=extra)
    final = json.loads((tmp_path / "conc.json").read_text())
    assert final["total_metric_calls"] <= 200
    with SQLiteStore(tmp_path / "conc", readonly=True) as store:
        assert store.paid_count == final["total_metric_calls"]
        deliveries = store.deliveries()
    calls = evaluator_calls(tmp_path, "conc")
    assert run_task(tmp_path, "conc", *extra, workers=4) == 0  # finished: a pure replay
    again = json.loads((tmp_path / "conc.json").read_text())
    assert comparable(again) == comparable(final)
    assert evaluator_calls(tmp_path, "conc") == calls
    with SQLiteStore(tmp_path / "conc", readonly=True) as store:
        assert store.deliveries() == deliveries
    loaded = load_run(tmp_path / "conc").to_dict()
    assert loaded["val_subscores"] == final["val_subscores"]
