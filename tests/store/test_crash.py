"""kill -9 at random and chosen moments, resume until done, compare with an uninterrupted run."""

from __future__ import annotations

import json
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gepakit.runs import load_run
from gepakit.store.sqlite import SQLiteStore

from .fake_task import VAL

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")

SCRIPT = Path(__file__).with_name("run_task.py")
BUDGET = 120


def run_task(
    tmp: Path,
    name: str,
    *args: str,
    kill_after: float | None = None,
    workers: int = 1,
    expect_error: str | None = None,
) -> int:
    """Run the task once in a subprocess; SIGKILL it after `kill_after` seconds."""
    cmd = [
        sys.executable,
        str(SCRIPT),
        str(tmp / name),
        str(tmp / f"{name}.json"),
        str(tmp / f"{name}.calls"),
        "--workers",
        str(workers),
        "--mcp",
        "1" if workers == 1 else "2",
        "--budget",
        str(BUDGET),
        *args,
    ]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    if expect_error is not None:
        assert proc.returncode == 1 and expect_error in err, err
    elif proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"run failed ({proc.returncode}):\n{err}")
    return proc.returncode


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """The result without per-session fields (LM usage, run_dir)."""
    return {k: v for k, v in result.items() if k not in ("usage", "run_dir")}


def interrupt_until_done(
    tmp: Path, name: str, workers: int, seed: int, extra: tuple[str, ...] = ()
) -> tuple[int, float]:
    """Kill the run at chosen and random moments, then let it finish.

    Returns the number of kills that hit a running process and the elapsed time.
    """
    rng = random.Random(seed)
    plan: list[tuple[tuple[str, ...], float | None]] = [
        (("--kill-reflect", "2"), None),  # during the 2nd reflection of the session
        (("--kill-val", "5"), None),  # during the seed's val evaluation
        ((), rng.uniform(0.3, 0.9)),
        (("--kill-val", "14"), None),  # during a child's val evaluation
        (("--kill-reflect", "1"), None),
        ((), rng.uniform(0.3, 0.9)),
    ]
    kills = 0
    started = time.perf_counter()
    for args, after in plan:
        code = run_task(tmp, name, *args, *extra, kill_after=after, workers=workers)
        kills += code == -signal.SIGKILL
    assert run_task(tmp, name, *extra, workers=workers) == 0
    return kills, time.perf_counter() - started


def evaluator_calls(tmp: Path, name: str) -> Counter[str]:
    path = tmp / f"{name}.calls"
    return Counter(path.read_text().splitlines()) if path.exists() else Counter()


def test_kill9_and_resume_gives_the_uninterrupted_result(tmp_path: Path) -> None:
    assert run_task(tmp_path, "base") == 0
    base = json.loads((tmp_path / "base.json").read_text())
    kills, _ = interrupt_until_done(tmp_path, "crashy", workers=1, seed=7)
    assert kills >= 3  # late kill points can miss a run that is already done
    final = json.loads((tmp_path / "crashy.json").read_text())

    assert comparable(final) == comparable(base)
    assert final["total_metric_calls"] <= BUDGET
    # Each kill can lose at most the one rollout in flight (run, but not yet recorded).
    calls = evaluator_calls(tmp_path, "crashy")
    assert sum(calls.values()) <= sum(evaluator_calls(tmp_path, "base").values()) + kills
    assert sum(n - 1 for n in calls.values()) <= kills
    # The stored run reads back as the same result, without any LM.
    loaded = load_run(tmp_path / "crashy").to_dict()
    for key in ("candidates", "parents", "val_aggregate_scores", "val_subscores", "proposals"):
        assert loaded[key] == final[key], key
    assert loaded["total_metric_calls"] == final["total_metric_calls"]


def test_kill9_with_progressive_val_and_a_hybrid_frontier_resumes_exactly(
    tmp_path: Path,
) -> None:
    # Partial val evaluations (policy and the end of the budget) replay as they ran.
    extra = ("--val-policy", "progressive", "--frontier", "hybrid")
    assert run_task(tmp_path, "base", *extra) == 0
    base = json.loads((tmp_path / "base.json").read_text())
    kills, _ = interrupt_until_done(tmp_path, "crashy", workers=1, seed=3, extra=extra)
    assert kills >= 3
    final = json.loads((tmp_path / "crashy.json").read_text())
    assert comparable(final) == comparable(base)
    assert final["total_metric_calls"] <= BUDGET
    loaded = load_run(tmp_path / "crashy").to_dict()
    for key in ("candidates", "parents", "val_aggregate_scores", "val_subscores", "proposals"):
        assert loaded[key] == final[key], key


def test_kill9_with_a_batch_evaluator_resumes_exactly(tmp_path: Path) -> None:
    # Each request's rollouts are committed together (one transaction per batch).
    assert run_task(tmp_path, "base", "--batch") == 0
    base = json.loads((tmp_path / "base.json").read_text())
    kills, _ = interrupt_until_done(tmp_path, "batched", workers=1, seed=5, extra=("--batch",))
    assert kills >= 3
    final = json.loads((tmp_path / "batched.json").read_text())
    assert comparable(final) == comparable(base)
    assert final["total_metric_calls"] <= BUDGET
    # A kill loses at most the batch in flight (run, not yet returned and recorded).
    calls = evaluator_calls(tmp_path, "batched")
    assert sum(n - 1 for n in calls.values()) <= kills * len(VAL)
    with SQLiteStore(tmp_path / "batched", readonly=True) as store:
        assert store.paid_count == final["total_metric_calls"]
    loaded = load_run(tmp_path / "batched").to_dict()
    for key in ("candidates", "parents", "val_aggregate_scores", "val_subscores", "proposals"):
        assert loaded[key] == final[key], key


@pytest.mark.parametrize("move_every", [None, 3])
def test_kill9_with_concurrency_never_pays_twice_or_overspends(
    tmp_path: Path, move_every: int | None
) -> None:
    # move_every=3: the record log is moved into run.db every few records, so the kills
    # land in moves too.
    workers = 4
    extra = ("--move-every", str(move_every)) if move_every else ()
    kills, _ = interrupt_until_done(tmp_path, "conc", workers=workers, seed=11, extra=extra)
    final = json.loads((tmp_path / "conc.json").read_text())
    assert final["total_metric_calls"] <= BUDGET
    calls = evaluator_calls(tmp_path, "conc")
    with SQLiteStore(tmp_path / "conc", readonly=True) as store:
        paid = store.paid_count
        assert paid == final["total_metric_calls"]
        deliveries = store.deliveries()
    # Only rollouts in flight at a kill (at most `workers` each) may have run twice.
    assert sum(calls.values()) - paid <= kills * workers
    assert sum(n - 1 for n in calls.values()) <= kills * workers
    # The store is consistent: it reads back and a further resume replays it exactly.
    loaded = load_run(tmp_path / "conc").to_dict()
    assert loaded["candidates"] == final["candidates"]
    assert loaded["val_subscores"] == final["val_subscores"]
    before = sum(calls.values())
    assert run_task(tmp_path, "conc", *extra, workers=workers) == 0
    again = json.loads((tmp_path / "conc.json").read_text())
    assert comparable(again) == comparable(final)
    assert sum(evaluator_calls(tmp_path, "conc").values()) == before
    with SQLiteStore(tmp_path / "conc", readonly=True) as store:
        assert store.deliveries() == deliveries


def test_kill9_with_concurrent_proposals_resumes_to_a_consistent_replayable_run(
    tmp_path: Path,
) -> None:
    # Several proposals in flight: children commit in turn (rebased, validated one at a
    # time) and rollouts beyond the workers wait on the driver; a kill at any point
    # resumes to a run that replays exactly and paid for nothing twice beyond what was
    # in flight.
    workers, extra = 4, ("--mcp", "3")
    kills, _ = interrupt_until_done(tmp_path, "mcp", workers=workers, seed=5, extra=extra)
    final = json.loads((tmp_path / "mcp.json").read_text())
    assert final["total_metric_calls"] <= BUDGET
    calls = evaluator_calls(tmp_path, "mcp")
    with SQLiteStore(tmp_path / "mcp", readonly=True) as store:
        assert store.paid_count == final["total_metric_calls"]
        deliveries = store.deliveries()
    assert sum(n - 1 for n in calls.values()) <= kills * workers
    before = sum(calls.values())
    assert run_task(tmp_path, "mcp", *extra, workers=workers) == 0
    again = json.loads((tmp_path / "mcp.json").read_text())
    assert comparable(again) == comparable(final)
    assert sum(evaluator_calls(tmp_path, "mcp").values()) == before
    with SQLiteStore(tmp_path / "mcp", readonly=True) as store:
        assert store.deliveries() == deliveries


# -- faults beyond kill -9 -------------------------------------------------------


def paid(tmp: Path, name: str) -> int:
    with SQLiteStore(tmp / name, readonly=True) as store:
        return store.paid_count


@pytest.mark.slow
def test_a_deleted_log_then_kill9_loses_nothing(tmp_path: Path) -> None:
    # The store notices its log is gone at the next write, moves what the log held into
    # run.db and starts a new one, so the kill after it loses no paid rollout.
    assert run_task(tmp_path, "base") == 0
    base = json.loads((tmp_path / "base.json").read_text())
    code = run_task(tmp_path, "nolog", "--delete-log-at", "20", "--kill-at", "70")
    assert code == -signal.SIGKILL
    assert paid(tmp_path, "nolog") == 69  # 69 rollouts were paid before the kill
    assert run_task(tmp_path, "nolog") == 0
    final = json.loads((tmp_path / "nolog.json").read_text())
    assert comparable(final) == comparable(base)
    calls = evaluator_calls(tmp_path, "nolog")
    assert sum(n - 1 for n in calls.values()) <= 1  # at most the call in flight at the kill


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("--disk-full-at", "cannot write to the run store"),
        ("--read-only-at", "Read-only file system"),
    ],
)
def test_a_store_failing_mid_request_stops_at_once_and_resume_completes(
    tmp_path: Path, fault: str, message: str
) -> None:
    assert run_task(tmp_path, "base") == 0
    base = json.loads((tmp_path / "base.json").read_text())
    run_task(tmp_path, "full", fault, "30", expect_error=message)
    called, kept = sum(evaluator_calls(tmp_path, "full").values()), paid(tmp_path, "full")
    # No evaluator call after the failed write: at most the one whose result was lost.
    assert kept <= called <= kept + 1
    assert called < 40
    assert run_task(tmp_path, "full") == 0
    final = json.loads((tmp_path / "full.json").read_text())
    assert comparable(final) == comparable(base)
    calls = evaluator_calls(tmp_path, "full")
    assert sum(n - 1 for n in calls.values()) <= 1  # zero paid rollouts lost


@pytest.mark.slow
def test_surrogates_in_every_text_field_survive_kill9_and_resume(tmp_path: Path) -> None:
    assert run_task(tmp_path, "base", "--surrogates") == 0
    base = json.loads((tmp_path / "base.json").read_text())
    assert all("\udce9" in c["instruction"] for c in base["candidates"])  # they really do
    kills, _ = interrupt_until_done(tmp_path, "cut", workers=1, seed=3, extra=("--surrogates",))
    assert kills >= 3
    final = json.loads((tmp_path / "cut.json").read_text())
    assert comparable(final) == comparable(base)
    calls = evaluator_calls(tmp_path, "cut")
    assert sum(n - 1 for n in calls.values()) <= kills
    loaded = load_run(tmp_path / "cut").to_dict()
    assert loaded["candidates"] == final["candidates"]
    with SQLiteStore(tmp_path / "cut", readonly=True) as store:
        rollouts = [r for _, r in store.rollouts()]
    assert rollouts and all("\udce9" in r.example_id for r in rollouts)
    assert all("\udce9" in (r.feedback or "") for r in rollouts)


@pytest.mark.parametrize(("kill_after", "move_every"), [(0.4, 256), (0.9, 256), (0.7, 5)])
def test_kill9_during_group_commits_loses_no_acknowledged_rollout(
    tmp_path: Path, kill_after: float, move_every: int
) -> None:
    # 8 threads write at once, so log records hold several rollouts; every rollout whose
    # put_rollout returned (logged after it) must be in the run after SIGKILL, whether
    # the kill lands in a write to the log or in a move of the log into run.db.
    ack = tmp_path / "acked"
    cmd = [sys.executable, str(SCRIPT.with_name("group_writer.py")), str(tmp_path / "run")]
    args = [str(ack), "8", "100000", str(move_every)]
    proc = subprocess.Popen([*cmd, *args], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ack.exists() or ack.stat().st_size == 0:  # wait until writes have started
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(proc.communicate()[1])
        time.sleep(0.01)
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err
    acked = set(ack.read_text().splitlines())
    with SQLiteStore(tmp_path / "run", readonly=True) as reader:  # reads run.db and the log
        assert acked <= {r.example_id for _, r in reader.rollouts()}
    with SQLiteStore(tmp_path / "run") as store:  # a writer: checks every checksum too
        stored = {r.example_id for _, r in store.rollouts()}
        assert store.paid_count == len(stored)
    assert len(acked) > 50
    assert acked <= stored
    assert len(stored) <= len(acked) + 8  # at most the one in flight per thread


def test_readers_of_a_killed_run_see_the_records_still_in_its_log(tmp_path: Path) -> None:
    # Killed before its log was moved: status, load_run and export read run.db and the
    # log, and give what a writer (a resume) finds once it has moved the log.
    from gepakit.cli.export import _csv  # pyright: ignore[reportPrivateUsage]
    from gepakit.runs import run_status

    code = run_task(tmp_path, "killed", "--kill-at", "70")
    assert code == -signal.SIGKILL
    run = tmp_path / "killed"
    conn = sqlite3.connect(run / "run.db")
    in_db = conn.execute("SELECT count(*) FROM rollouts").fetchone()[0]
    conn.close()
    assert in_db < 69  # the newest records are in run.db-log only
    result, status, csv_text = load_run(run).to_dict(), run_status(run), _csv(run)
    assert paid(tmp_path, "killed") == 69 == result["total_metric_calls"]
    shutil.copytree(run, tmp_path / "moved")
    (tmp_path / "moved" / ".lock").unlink(missing_ok=True)
    SQLiteStore(tmp_path / "moved").close()  # a writer moves the log into run.db
    assert not (tmp_path / "moved" / "run.db-log").exists()
    assert comparable(load_run(tmp_path / "moved").to_dict()) == comparable(result)
    assert {**run_status(tmp_path / "moved"), "run_dir": ""} == {**status, "run_dir": ""}
    assert _csv(tmp_path / "moved") == csv_text
