"""kill -9 at random and chosen moments, resume until done, compare with an uninterrupted run."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gepakit.runs import load_run
from gepakit.store.sqlite import SQLiteStore

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")

SCRIPT = Path(__file__).with_name("run_task.py")
BUDGET = 120


def run_task(
    tmp: Path, name: str, *args: str, kill_after: float | None = None, workers: int = 1
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
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"run failed ({proc.returncode}):\n{err}")
    return proc.returncode


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """The result without per-session fields (LM usage, run_dir)."""
    return {k: v for k, v in result.items() if k not in ("usage", "run_dir")}


def interrupt_until_done(tmp: Path, name: str, workers: int, seed: int) -> tuple[int, float]:
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
        code = run_task(tmp, name, *args, kill_after=after, workers=workers)
        kills += code == -signal.SIGKILL
    assert run_task(tmp, name, workers=workers) == 0
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


def test_kill9_with_concurrency_never_pays_twice_or_overspends(tmp_path: Path) -> None:
    workers = 4
    kills, _ = interrupt_until_done(tmp_path, "conc", workers=workers, seed=11)
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
    assert run_task(tmp_path, "conc", workers=workers) == 0
    again = json.loads((tmp_path / "conc.json").read_text())
    assert comparable(again) == comparable(final)
    assert sum(evaluator_calls(tmp_path, "conc").values()) == before
    with SQLiteStore(tmp_path / "conc", readonly=True) as store:
        assert store.deliveries() == deliveries
