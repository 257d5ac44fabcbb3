"""Run-store costs: bytes written per rollout against bytes kept, write cost, resume time.

    python benchmarks/store_bench.py [--sizes 2000 20000] [--compare REV] [--explain]

Tables (one row per code version when ``--compare REV`` runs REV's gepakit too, from a
temporary git worktree, with this same script):

- writes: N rollouts written straight to `SQLiteStore.put_rollout`, each committed
  before the next is handed over, by one thread (``serial``: an inline run with an
  instant evaluator; ``serial 1s``: the same writes with the store's clock advanced by
  1 s per rollout, so it checkpoints as in a run whose rollouts take a second each,
  e.g. an LM call) or by 8 threads whose rollouts finish at random moments 0-2 ms apart
  (``8 threads``: a thread pool). Two rollout shapes: ``small`` (a label, "correct"; ~190 B of JSON)
  and ``medium`` (a paragraph of feedback, an answer with reasoning and a trace;
  ~900 B). Columns: *written* = bytes this process handed to write() (the record log,
  the moves of the log into run.db and their rollback journal, the last move at close;
  with schema 3 and before: WAL frames and checkpoint copies) per rollout, from
  ``wchar`` in /proc/self/io; *device* = bytes it sent to the disk (``write_bytes``:
  page cache pages dirtied, 4 KB each); *kept* = size of run.db after close per
  rollout; *ratio* = written / kept; *write us* = wall time of the writes per
  rollout; *commits* = log records (transactions, before schema 4) per rollout (group
  commit merges rollouts that finish together).
- engine: a full `gepakit.optimize` run with a run_dir, an instant evaluator and an
  instant reflection function (every store write of a real run, deliveries, events and
  candidates included): bytes written / kept per metric call, engine us per call, and
  the resume cost (open s: opening the store; replay s: `Driver.run(replay_only=True)`).
- ``--explain``: where the bytes of one serial run of each shape go: the record log
  (by table) and the moves into run.db (pages and journal).

For comparison, gepa 0.1.4 rewrites its pickled state on every iteration:
0.9 ms per save at 1k rollouts, 32 ms at 20k.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import gepakit
from gepakit.engine.budget import Budget
from gepakit.engine.loop import Driver
from gepakit.engine.protocols import EventSink
from gepakit.engine.state import EngineState, SearchConfig
from gepakit.executors.local import InlineExecutor
from gepakit.store import sqlite as sqlite_module
from gepakit.store.sqlite import SQLiteStore
from gepakit.types import Candidate, Example, Rollout

try:  # the record log (schema 4); --compare runs older revisions with this script too
    from gepakit.store import _log as log_module
except ImportError:  # pragma: no cover
    log_module = None
try:  # the store's clock: the log's moves and syncs (sqlite.py itself before the split)
    from gepakit.store import _moves as clock_module
except ImportError:  # pragma: no cover
    clock_module = sqlite_module

WORDS = [
    "the",
    "answer",
    "date",
    "format",
    "expected",
    "model",
    "output",
    "label",
    "intent",
    "classify",
    "utterance",
    "weather",
    "music",
    "play",
    "book",
    "restaurant",
    "city",
    "time",
    "reason",
    "because",
    "first",
    "then",
]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def make_rollout(i: int, shape: str, rng: random.Random) -> Rollout:
    """Rollout `i` of a run: 50 examples per candidate, 64-hex candidate ids."""
    cid = f"{i // 50 * 7919 + 12345678:016x}" * 4
    if shape == "small":
        return Rollout(
            candidate_id=cid,
            example_id=f"snips-{i % 50}",
            split="val",
            score=1.0,
            feedback="correct",
            output="PlayMusic",
            duration=0.2,
        )
    return Rollout(
        candidate_id=cid,
        example_id=f"ex-{i % 50}",
        split="val",
        score=0.5,
        feedback="The answer missed the date format; expected YYYY-MM-DD. " + _text(rng, 10),
        output={"answer": _text(rng, 5), "reasoning": _text(rng, 60)},
        trace={"instruction": {"inputs": {"q": _text(rng, 8)}, "outputs": _text(rng, 5)}},
        duration=0.2,
    )


def _io() -> tuple[int, int]:
    with open("/proc/self/io") as fh:
        fields = dict(line.split(": ") for line in fh.read().splitlines())
    return int(fields["wchar"]), int(fields["write_bytes"])


class PacedClock:
    """`time` for the store module, whose monotonic clock advances `pace` seconds per
    tick: the store checkpoints as it would if each rollout took that long."""

    def __init__(self, pace: float) -> None:
        self.now, self.pace = time.monotonic(), pace
        self.time = time.time

    def monotonic(self) -> float:
        return self.now

    def tick(self) -> None:
        self.now += self.pace


def writes(n: int, shape: str, threads: int, tmp: Path, pace: float = 0.0) -> dict[str, float]:
    """Bytes and time of writing n rollouts (see the module docstring)."""
    rng = random.Random(0)
    rollouts = [make_rollout(i, shape, rng) for i in range(n)]
    run_dir = tmp / f"w-{shape}-{threads}-{n}-{pace}"
    clock = PacedClock(pace)
    if pace:
        clock_module.time = clock  # type: ignore[assignment]
    store = SQLiteStore(run_dir)
    io0, t0 = _io(), time.perf_counter()
    if threads == 1:
        for r in rollouts:
            clock.tick()
            store.put_rollout(r)
    else:

        def worker(part: list[Rollout], seed: int) -> None:
            pause = random.Random(seed)
            for r in part:
                time.sleep(pause.uniform(0, 0.002))
                store.put_rollout(r)

        pool = [
            threading.Thread(target=worker, args=(rollouts[k::threads], k)) for k in range(threads)
        ]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    seconds = time.perf_counter() - t0
    commits = getattr(store, "commits", None)
    store.close()
    clock_module.time = time
    io1 = _io()
    kept = (run_dir / "run.db").stat().st_size
    return {
        "written": (io1[0] - io0[0]) / n,
        "device": (io1[1] - io0[1]) / n,
        "kept": kept / n,
        "us": seconds / n * 1e6,
        "commits": -1.0 if commits is None else commits / n,
    }


def task(n_val: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    train = [{"id": f"t{i}", "k": i} for i in range(60)]
    val = [{"id": f"v{i}", "k": i} for i in range(n_val)]
    return train, val


def evaluator(candidate: dict[str, str], example: dict[str, Any]) -> gepakit.Score:
    text = candidate["instruction"]
    score = ((len(text) * 7 + example["k"]) % 11) / 10
    return gepakit.Score(score, feedback="expected the other label", output="PlayMusic")


def reflect(prompt: str) -> str:
    return f"```\nInstruction {zlib.crc32(prompt.encode()) % 100003}\n```"


def engine_run(n: int, tmp: Path, run_dir: Path | None = None) -> dict[str, float]:
    """Bytes, engine us per call and resume cost of a serial run of n metric calls."""
    train, val = task(n_val=max(20, n // 200))
    run_dir = run_dir or tmp / f"run{n}"
    io0, t0 = _io(), time.perf_counter()
    result = gepakit.optimize(
        {"instruction": "Answer."},
        train,
        val,
        evaluator=evaluator,
        reflection_lm=reflect,
        max_metric_calls=n,
        run_dir=run_dir,
        use_merge=False,
        quiet=True,
    )
    calls = result.total_metric_calls
    per_call = (time.perf_counter() - t0) / calls * 1e6
    io1 = _io()
    kept = sum(p.stat().st_size for p in run_dir.iterdir() if p.name.startswith("run.db"))
    t1 = time.perf_counter()
    store = SQLiteStore(run_dir)
    opened = time.perf_counter() - t1
    state = EngineState(
        Candidate(components={"instruction": "Answer."}),
        [Example(id=e["id"], data=e) for e in train],
        [Example(id=e["id"], data=e) for e in val],
        SearchConfig(use_merge=False),
        Budget(n),
    )
    driver = Driver(
        state,
        run_rollout=lambda *a: None,
        executor=InlineExecutor(),
        proposer=None,
        proposer_executor=InlineExecutor(),
        store=store,
        sink=EventSink(),
    )
    t2 = time.perf_counter()
    driver.run(replay_only=True)
    replayed = time.perf_counter() - t2
    store.close()
    assert state.budget.used == calls, "replay did not rebuild the run"
    return {
        "calls": calls,
        "written": (io1[0] - io0[0]) / calls,
        "kept": kept / calls,
        "us": per_call,
        "open": opened,
        "replay": replayed,
    }


# -- where the bytes go ----------------------------------------------------------


def explain(n: int, shape: str, tmp: Path) -> None:
    """Print where the bytes of n serial writes (or an engine run) go: the record log
    (by table) and the moves into run.db (its pages and the rollback journal)."""
    run_dir = tmp / f"x-{shape}"
    by_table: collections.Counter[str] = collections.Counter()
    stats: dict[str, int] = {}
    assert log_module is not None, "--explain needs the record log (schema 4)"
    encode, close = log_module.encode, SQLiteStore.close

    def counted_encode(lsn: int, ops: Any) -> bytes:
        for table, params, _ in ops:
            by_table[table] += len(json.dumps(list(params), separators=(",", ":")))
        return encode(lsn, ops)

    def counted_close(self: SQLiteStore) -> None:
        close(self)  # the last move
        if not self.readonly and not stats:
            stats.update(log=self.log_bytes, moves=self.moves, records=self.records)

    log_module.encode = counted_encode  # type: ignore[assignment]
    SQLiteStore.close = counted_close  # type: ignore[method-assign]
    io0 = _io()[0]
    try:
        if shape == "engine":
            n = int(engine_run(n, tmp, run_dir)["calls"])
        else:
            rng = random.Random(0)
            with SQLiteStore(run_dir) as store:
                for i in range(n):
                    store.put_rollout(make_rollout(i, shape, rng))
    finally:
        log_module.encode = encode  # type: ignore[assignment]
        SQLiteStore.close = close  # type: ignore[method-assign]
    written = _io()[0] - io0
    conn = sqlite3.connect(run_dir / "run.db")
    payload = conn.execute("SELECT sum(payload) FROM dbstat").fetchone()[0]
    conn.close()
    kept = (run_dir / "run.db").stat().st_size
    moved = written - stats["log"]
    per = "metric call" if shape == "engine" else "rollout"
    print(
        f"  {shape}: {written / n:.0f} B written per {per} = log {stats['log'] / n:.0f} "
        f"+ moves into run.db {moved / n:.0f} ({stats['moves']} moves, "
        f"{stats['records'] / stats['moves']:.0f} records each); run.db keeps "
        f"{kept / n:.0f} B (records: {payload / n:.0f} B)"
    )
    log_total = sum(by_table.values())
    header = stats["log"] - log_total
    for table, size in by_table.most_common():
        print(f"    log {size / n:6.0f} B/{per}  {table} (values as JSON)")
    print(f"    log {header / n:6.0f} B/{per}  record headers and list framing")


# -- driver ----------------------------------------------------------------------


def measure(sizes: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {"writes": [], "engine": []}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for n in sizes:
            for shape in ("small", "medium"):
                for threads, pace in ((1, 0.0), (1, 1.0), (8, 0.0)):
                    row = writes(n, shape, threads, tmp, pace)
                    out["writes"].append(
                        {"n": n, "shape": shape, "threads": threads, "pace": pace, **row}
                    )
            out["engine"].append({"n": n, **engine_run(n, tmp)})
    return out


def run_other(rev: str, sizes: list[int]) -> dict[str, Any]:
    """This script's measurements with the gepakit of git revision `rev`."""
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as d:
        tree = Path(d) / "tree"
        subprocess.run(
            ["git", "-C", str(root), "worktree", "add", "--detach", "-q", str(tree), rev],
            check=True,
        )
        try:
            env = {**os.environ, "PYTHONPATH": str(tree / "src")}
            cmd = [sys.executable, __file__, "--json", "--sizes", *map(str, sizes)]
            done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            return json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            subprocess.run(
                ["git", "-C", str(root), "worktree", "remove", "--force", str(tree)], check=True
            )


def show(results: dict[str, dict[str, Any]]) -> None:
    print(
        f"{'code':>10} | {'shape':>6} | {'writers':>10} | {'rollouts':>8} | {'written B':>9} | "
        f"{'device B':>8} | {'kept B':>6} | {'ratio':>5} | {'write us':>8} | {'commits':>7}"
    )
    print("-" * 106)
    for name, res in results.items():
        for r in res["writes"]:
            commits = "-" if r["commits"] < 0 else f"{r['commits']:.2f}"
            writers = "serial" if r["threads"] == 1 else f"{r['threads']} threads"
            writers += f" {r['pace']:g}s" if r.get("pace") else ""
            print(
                f"{name:>10} | {r['shape']:>6} | {writers:>10} | {r['n']:>8} | "
                f"{r['written']:>9.0f} | {r['device']:>8.0f} | {r['kept']:>6.0f} | "
                f"{r['written'] / r['kept']:>5.1f} | {r['us']:>8.0f} | {commits:>7}"
            )
    print()
    print(
        f"{'code':>10} | {'calls':>6} | {'written B/call':>14} | {'kept B/call':>11} | "
        f"{'ratio':>5} | {'engine us/call':>14} | {'open s':>6} | {'replay s':>8}"
    )
    print("-" * 96)
    for name, res in results.items():
        for r in res["engine"]:
            print(
                f"{name:>10} | {r['calls']:>6} | {r['written']:>14.0f} | {r['kept']:>11.0f} | "
                f"{r['written'] / r['kept']:>5.1f} | {r['us']:>14.0f} | {r['open']:>6.3f} | "
                f"{r['replay']:>8.3f}"
            )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    p.add_argument("--compare", metavar="REV", help="also measure the gepakit of REV")
    p.add_argument("--explain", action="store_true", help="where the bytes of a rollout go")
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    logging.getLogger("gepakit").setLevel(logging.WARNING)
    if a.json:
        print(json.dumps(measure(a.sizes)))
        return
    results: dict[str, dict[str, Any]] = {}
    if a.compare:
        results[a.compare[:10]] = run_other(a.compare, a.sizes)
    results["this tree"] = measure(a.sizes)
    show(results)
    if a.explain:
        print("\nwhere the bytes go (serial writes of 2000 rollouts; an engine run of 2000 calls):")
        with tempfile.TemporaryDirectory() as d:
            for shape in ("small", "medium", "engine"):
                explain(2000, shape, Path(d))


if __name__ == "__main__":
    main()
