"""gepakit vs the reference gepa (0.1.4) on identical simulated tasks.

Usage (from the repository root, with requirements/bench.txt installed)::

    python benchmarks/gepa_compare.py latency    # a. simulated LM latency, wall time
    python benchmarks/gepa_compare.py overhead   # b. engine overhead, RSS, bytes written
    python benchmarks/gepa_compare.py quality    # c. best val score, median of 5 seeds
    python benchmarks/gepa_compare.py search --quick   # d. the search, side by side
    python benchmarks/gepa_compare.py grid             # d. full grid (run under flock):
        # budgets 50/100/300/1000 x valsets 30/100 x K 1/2/4/8 next to gepa 0.1.4;
        # --latency-scale 0.02 for comparable wall times, --out results.json
    python benchmarks/gepa_compare.py paired --seeds 40  # d2. gepa vs gepakit, paired seeds
    python benchmarks/gepa_compare.py concurrency --seeds 20 --time-scale 0.05  # e. K=1..8
    python benchmarks/gepa_compare.py kquality --seeds 40  # f. K=4 vs K=1, equal calls
    python benchmarks/gepa_compare.py all

Each optimizer gets the same `KeywordTask` (benchmarks/keyword_task.py), the same fake
reflection function (as gepa's `custom_candidate_proposer` and gepakit's
`instruction_proposer`), the same minibatch size (3) and no merges. gepa is called
through its public `gepa.optimize` API only.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))

from keyword_task import GepaAdapter, KeywordTask, SilentLogger, gepakit_evaluator

from gepakit import EventSink

MINIBATCH = 3


def run_gepa(
    task: KeywordTask,
    budget: int,
    *,
    seed: int = 0,
    threads: int = 0,
    run_dir: str | None = None,
) -> dict[str, Any]:
    from gepa.api import optimize

    adapter: Any = GepaAdapter(task, threads=threads)
    proposer: Any = task.propose
    started = time.perf_counter()
    try:
        result = optimize(
            seed_candidate=task.seed_candidate,
            trainset=task.trainset,
            valset=task.valset,
            adapter=adapter,
            custom_candidate_proposer=proposer,
            max_metric_calls=budget,
            reflection_minibatch_size=MINIBATCH,
            use_merge=False,
            seed=seed,
            logger=SilentLogger(),
            run_dir=run_dir,
            display_progress_bar=False,
        )
    finally:
        adapter.close()
    wall = time.perf_counter() - started
    return {
        "wall": wall,
        "best": result.val_aggregate_scores[result.best_idx],
        "calls": result.total_metric_calls,
        "candidates": len(result.candidates),
    }


def _optimize_gepakit(task: KeywordTask, budget: int, seed: int, **options: Any) -> Any:
    """gepakit.optimize on `task` with the settings every benchmark here shares."""
    import gepakit

    return gepakit.optimize(
        task.seed_candidate,
        task.trainset,
        task.valset,
        evaluator=gepakit_evaluator(task),
        instruction_proposer=task.propose,
        max_metric_calls=budget,
        reflection_minibatch_size=MINIBATCH,
        seed=seed,
        progress=False,
        **options,
    )


def run_gepakit(
    task: KeywordTask,
    budget: int,
    *,
    seed: int = 0,
    workers: int = 1,
    proposals: int = 1,
    run_dir: str | None = None,
    executor: Any = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    bests = _BestTimes(started)
    result = _optimize_gepakit(
        task,
        budget,
        seed,
        use_merge=False,
        workers=workers,
        max_concurrent_proposals=proposals,
        run_dir=run_dir,
        executor=executor,
        callbacks=[bests],
    )
    wall = time.perf_counter() - started
    return {
        "wall": wall,
        "best": result.best_score,
        "calls": result.total_metric_calls,
        "candidates": result.num_candidates,
        "stop": result.stop_reason,
        "best_times": bests.times,
    }


def run_toy(
    rules: int,
    components: tuple[str, ...],
    budget: int,
    seed: int,
    k: int,
    rollout_s: float,
    reflect_s: float,
) -> dict[str, Any]:
    """gepakit on `gepakit.testing.ToyTask` (every proposal adds the rules its feedback
    names, so every proposal is useful) with simulated latency, 8 workers."""
    import gepakit
    from gepakit.testing import ToyTask

    task = ToyTask(
        num_rules=rules,
        train_size=2 * rules,
        val_size=2 * rules,
        components=components,
        needs_per_example=2,
    )
    reflections = [0]

    def evaluate(candidate: Any, example: Any) -> gepakit.Score:
        time.sleep(rollout_s)
        return task.evaluate(candidate, example)

    def propose(candidate: Any, dataset: Any, names: Any) -> dict[str, str]:
        time.sleep(reflect_s)
        reflections[0] += 1
        return task.proposer(candidate, dataset, names)

    started = time.perf_counter()
    bests = _BestTimes(started)
    result = gepakit.optimize(
        task.seed_candidate,
        task.trainset,
        task.valset,
        evaluator=evaluate,
        instruction_proposer=propose,
        max_metric_calls=budget,
        reflection_minibatch_size=MINIBATCH,
        seed=seed,
        workers=8,
        max_concurrent_proposals=k,
        progress=False,
        callbacks=[bests],
    )
    return {
        "wall": time.perf_counter() - started,
        "best": result.best_score,
        "calls": result.total_metric_calls,
        "best_times": bests.times,
        "reflections": reflections[0],
    }


class _BestTimes(EventSink):
    """A gepakit event sink recording (seconds since start, score) of each new best."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.times: list[tuple[float, float]] = []

    def new_best(self, index: int, score: float) -> None:
        self.times.append((time.perf_counter() - self.started, score))


def _time_to(times: Sequence[tuple[float, float]], target: float, wall: float) -> float:
    """When a run's best first reached `target` (its whole wall time if it never did)."""
    return next((t for t, score in times if score >= target - 1e-9), wall)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


# -- a. simulated latency ------------------------------------------------------


def latency(args: argparse.Namespace) -> None:
    rollout_s, reflect_s, workers, proposals = 0.2, 2.0, 8, 4

    def task() -> KeywordTask:
        return KeywordTask(val_size=50, rollout_sleep=rollout_s, reflect_sleep=reflect_s)

    runs: list[tuple[str, KeywordTask, dict[str, Any], int]] = []
    t = task()
    runs.append((f"gepa 0.1.4 (adapter pool of {workers})", t, run_gepa(t, 500, threads=8), 8))
    t = task()
    res = run_gepakit(t, 500, workers=workers, proposals=proposals)
    runs.append((f"gepakit workers={workers} K={proposals}", t, res, workers))
    if args.ray:
        t = task()
        res = run_gepakit(t, 500, workers=workers, proposals=proposals, executor="ray")
        runs.append((f"gepakit ray workers={workers} K={proposals}", t, res, workers))
    rows = []
    for name, t, res, conc in runs:
        total = t.rollouts.latency + t.reflections.latency
        bound = total / conc
        rows.append(
            [
                name,
                res["calls"],
                t.reflections.calls,
                res["wall"],
                bound,
                res["wall"] / bound,
                res["best"],
            ]
        )
    print(
        f"\na. simulated latency: rollout {rollout_s}s, reflection {reflect_s}s, "
        "valset 50, budget 500 metric calls"
    )
    print(
        table(
            [
                "optimizer",
                "metric calls",
                "reflections",
                "wall s",
                "lower bound s",
                "wall/bound",
                "best val",
            ],
            rows,
        )
    )
    print(f"gepa / gepakit wall time: {runs[0][2]['wall'] / runs[1][2]['wall']:.2f}x")
    print("lower bound = (sum of rollout and reflection latencies) / 8 concurrent slots")


# -- b. engine overhead --------------------------------------------------------


def overhead_task() -> KeywordTask:
    return KeywordTask(train_size=200, val_size=200, num_keywords=300, cap=0.99)


def _io_written() -> int:
    try:
        with open("/proc/self/io") as fh:
            fields = dict(line.split(": ") for line in fh.read().splitlines())
        return int(fields["wchar"])
    except OSError:
        return -1


def overhead_child(args: argparse.Namespace) -> None:
    task = overhead_task()
    run_dir = args.run_dir
    before = _io_written()
    if args.impl == "gepa":
        res = run_gepa(task, args.budget, run_dir=run_dir)
    else:
        res = run_gepakit(task, args.budget, run_dir=run_dir)
    res["written"] = _io_written() - before
    res["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res["dir_bytes"] = (
        sum(p.stat().st_size for p in Path(run_dir).rglob("*") if p.is_file()) if run_dir else 0
    )
    res["rollouts"] = task.rollouts.calls
    print(json.dumps(res))


def overhead(args: argparse.Namespace) -> None:
    budget = args.budget
    rows = []
    has_store = _gepakit_persists()
    configs = [("gepa 0.1.4 (run_dir)", "gepa", True), ("gepakit (no run_dir)", "gepakit", False)]
    if has_store:
        configs.append(("gepakit (run_dir, SQLite)", "gepakit", True))
    for name, impl, with_dir in configs:
        tmp = tempfile.mkdtemp(prefix="gepabench-")
        try:
            cmd = [sys.executable, __file__, "overhead-child", "--impl", impl]
            cmd += ["--budget", str(budget)]
            if with_dir:
                cmd += ["--run-dir", str(Path(tmp) / "run")]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            res = json.loads(out.strip().splitlines()[-1])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        rows.append(
            [
                name,
                res["wall"],
                1000 * res["wall"] / max(1, res["calls"]),
                res["calls"],
                budget,
                res["rss_mb"],
                res["written"] / 1e6,
                res["dir_bytes"] / 1e6,
                res["best"],
            ]
        )
    print(f"\nb. engine overhead: instant evaluator and reflection, valset 200, budget {budget}")
    print(
        table(
            [
                "optimizer",
                "wall s",
                "ms/call",
                "calls used",
                "budget",
                "peak RSS MB",
                "MB written",
                "run_dir MB",
                "best val",
            ],
            rows,
        )
    )
    if not has_store:
        print("gepakit has no run_dir store yet (src/gepakit/store/sqlite.py): measured in memory")


def _gepakit_persists() -> bool:
    import importlib.util

    return importlib.util.find_spec("gepakit.store.sqlite") is not None


# -- c. quality parity ---------------------------------------------------------


def quality(args: argparse.Namespace) -> None:
    budget = args.quality_budget
    seeds = list(range(args.seeds))
    gepa_calls: dict[int, int] = {}

    def gepa_run(t: KeywordTask, s: int) -> dict[str, Any]:
        res = run_gepa(t, budget, seed=s)
        gepa_calls[s] = res["calls"]
        return res

    variants: dict[str, Any] = {
        "gepa 0.1.4": gepa_run,
        "gepakit serial": lambda t, s: run_gepakit(t, budget, seed=s),
        # gepa may overshoot its budget by up to a valset evaluation; this row gives
        # gepakit the metric calls gepa actually used on the same seed.
        "gepakit serial, budget = gepa's calls": lambda t, s: run_gepakit(t, gepa_calls[s], seed=s),
        "gepakit workers=8 K=4": lambda t, s: run_gepakit(
            t, budget, seed=s, workers=8, proposals=4
        ),
    }
    rows = []
    for name, fn in variants.items():
        scores, calls = [], []
        for s in seeds:
            res = fn(KeywordTask(seed=s), s)
            scores.append(res["best"])
            calls.append(res["calls"])
        rows.append(
            [
                name,
                statistics.median(scores),
                statistics.mean(scores),
                statistics.median(calls),
                " ".join(f"{x:.3f}" for x in scores[:10]) + (" ..." if len(scores) > 10 else ""),
            ]
        )
    print(f"\nc. quality: best val score, {len(seeds)} seeds (task and optimizer), budget {budget}")
    print(table(["optimizer", "median best", "mean best", "median calls", "per seed"], rows))


# -- d. the search side by side -----------------------------------------------


class _MergeCounter:
    """A gepa callback counting merge attempts and acceptances."""

    def __init__(self) -> None:
        self.tried = 0
        self.accepted = 0

    def on_merge_attempted(self, event: Any) -> None:
        self.tried += 1

    def on_merge_accepted(self, event: Any) -> None:
        self.accepted += 1


def search_gepa(
    task: KeywordTask, budget: int, seed: int, merge: bool, threads: int = 0
) -> dict[str, Any]:
    from gepa.api import optimize

    adapter: Any = GepaAdapter(task, threads=threads)
    counter = _MergeCounter()
    started = time.perf_counter()
    try:
        result = optimize(
            seed_candidate=task.seed_candidate,
            trainset=task.trainset,
            valset=task.valset,
            adapter=adapter,
            custom_candidate_proposer=cast(Any, task.propose),
            max_metric_calls=budget,
            reflection_minibatch_size=MINIBATCH,
            use_merge=merge,
            max_merge_invocations=5,
            seed=seed,
            logger=SilentLogger(),
            display_progress_bar=False,
            callbacks=[cast(Any, counter)],
        )
    finally:
        adapter.close()
    return {
        "wall": time.perf_counter() - started,
        "best": result.val_aggregate_scores[result.best_idx],
        "calls": result.total_metric_calls,
        "reflections": task.reflections.calls,
        "tokens": task.reflection_tokens,
        "proposals": task.reflections.calls + counter.tried,
        "merges": (counter.tried, counter.accepted),
        "merged": sum(1 for p in result.parents if len([x for x in p if x is not None]) > 1),
        "merged_new": _new_merged(result.candidates, result.parents),
    }


def _new_merged(candidates: Sequence[Any], parents: Sequence[Sequence[Any]]) -> int:
    """Merged candidates whose texts no earlier candidate has (gepa 0.1.4 may add a
    merge equal to an existing candidate: every changed component from the same side)."""
    seen: set[tuple[tuple[str, str], ...]] = set()
    new = 0
    for cand, par in zip(candidates, parents, strict=True):
        key = tuple(sorted(dict(cand).items()))
        if len([x for x in par if x is not None]) > 1 and key not in seen:
            new += 1
        seen.add(key)
    return new


def search_gepakit(
    task: KeywordTask, budget: int, seed: int, merge: bool, k: int, workers: int = 0
) -> dict[str, Any]:
    started = time.perf_counter()
    result = _optimize_gepakit(
        task,
        budget,
        seed,
        use_merge=merge,
        max_merge_invocations=5,
        workers=workers or (2 * k if k > 1 else 1),
        max_concurrent_proposals=k,
    )
    merges = [p for p in result.proposals if p.kind == "merge"]
    return {
        "wall": time.perf_counter() - started,
        "best": result.best_score,
        "calls": result.total_metric_calls,
        "reflections": task.reflections.calls,
        "tokens": task.reflection_tokens,
        "proposals": len(result.proposals),
        "merges": (len(merges), sum(p.decision == "accepted" for p in merges)),
        "merged": result.origins.count("merge"),
        "merged_new": _new_merged(result.candidates, result.parents),
    }


def _mean_se(xs: Sequence[float]) -> str:
    m = statistics.mean(xs)
    se = statistics.stdev(xs) / len(xs) ** 0.5 if len(xs) > 1 else 0.0
    return f"{m:.3f} ± {se:.3f}"


SEARCH_HEADERS = [
    "val",
    "budget",
    "optimizer",
    "metric calls",
    "reflections",
    "refl. tokens~",
    "proposals",
    "merges tried/acc (sum)",
    "merged cands (sum, new)",
    "best val ± SE",
    "wall s",
]


def _search_row(
    v: int, budget: int, name: str, runs: list[dict[str, Any]], merge: bool
) -> list[Any]:
    tried = sum(r["merges"][0] for r in runs)
    acc = sum(r["merges"][1] for r in runs)
    merged = sum(r["merged"] for r in runs)
    new = sum(r["merged_new"] for r in runs)
    return [
        v,
        budget,
        name,
        f"{statistics.mean(r['calls'] for r in runs):.1f}/{budget}",
        statistics.mean(r["reflections"] for r in runs),
        int(statistics.mean(r["tokens"] for r in runs)),
        statistics.mean(r["proposals"] for r in runs),
        f"{tried}/{acc}" if merge else "-",
        f"{merged}, {new}" if merge else "-",
        _mean_se([r["best"] for r in runs]),
        statistics.mean(r["wall"] for r in runs),
    ]


TWO_PARTS: dict[str, Any] = {"components": ("a", "b"), "num_keywords": 12, "needs": 2}
"""The merge scenarios' task: two components, each val example depends on one."""
TRADEOFF: dict[str, Any] = {**TWO_PARTS, "tradeoff": 0.02, "base": 0.1}


def search(args: argparse.Namespace) -> None:
    """The search side by side with gepa: budgets x valsets x K, two scenarios.

    With ``--latency-scale s > 0`` rollouts sleep 0.2 s x s and reflections 2 s x s,
    gepa's adapter evaluates on 8 threads and gepakit runs with workers=8, so the wall
    times compare; otherwise the LM and evaluator are instant (wall = engine overhead).
    """
    logging.disable(logging.INFO)  # no per-proposal log lines
    quick = args.quick
    budgets = [100, 300] if quick else [50, 100, 300, 1000]
    valsets = [30] if quick else [30, 100]
    ks = [1, 4] if quick else [1, 2, 4, 8]
    seeds = list(range(args.seeds))
    scale = args.latency_scale
    sleeps = {"rollout_sleep": 0.2 * scale, "reflect_sleep": 2.0 * scale} if scale else {}
    workers = 8 if scale else 0
    scenarios: list[tuple[str, str, dict[str, Any], bool]] = [
        ("keyword", "keyword, 20% useful", {"useful": 0.2}, False),
        ("merge", "merge: 2 components", TWO_PARTS, True),
        (
            "tradeoff",
            "merge, trade-off: 2 components, each keyword costs the other part's examples 0.02",
            TRADEOFF,
            True,
        ),
    ]
    saved: dict[str, Any] = {"argv": sys.argv[1:], "seeds": len(seeds), "scenarios": {}}
    if args.scenario:
        asked = args.scenario.split(",")
        names = [sc[0] for sc in scenarios]
        unknown = [a for a in asked if a not in names]
        if unknown:
            raise SystemExit(f"--scenario: unknown {', '.join(unknown)}; choose from {names}")
        scenarios = [sc for sc in scenarios if sc[0] in asked]
    for _, label, task_kw, merge in scenarios:
        rows: list[list[Any]] = []
        for v in valsets:
            for budget in budgets if not merge else [300, 1000]:
                if budget < v + 2 * MINIBATCH:
                    continue
                configs: list[tuple[str, Any]] = [("gepa 0.1.4", None)]
                configs += [(f"gepakit K={k}", k) for k in (ks if not merge else [1, 4])]
                for name, k in configs:
                    runs = []
                    for s in seeds:
                        task = KeywordTask(seed=s, val_size=v, **task_kw, **sleeps)
                        if k is None:
                            runs.append(search_gepa(task, budget, s, merge, threads=workers))
                        else:
                            runs.append(search_gepakit(task, budget, s, merge, k, workers))
                    rows.append(_search_row(v, budget, name, runs, merge))
                    print(" | ".join(_fmt(c) for c in rows[-1]), file=sys.stderr, flush=True)
        latency = (
            f"latency {0.2 * scale:g}s/rollout {2 * scale:g}s/reflection, workers 8"
            if scale
            else "instant fake LM and evaluator"
        )
        title = (
            f"d. search, {label}: means over {len(seeds)} seeds (task seed = optimizer "
            f"seed), minibatch {MINIBATCH}, {latency}"
        )
        print(f"\n{title}")
        print(table(SEARCH_HEADERS, rows))
        saved["scenarios"][label] = {"title": title, "headers": SEARCH_HEADERS, "rows": rows}
    print(
        "reflections = proposals that reached the (fake) reflection LM; tokens ~ chars/4 of "
        "what a prompt would hold; proposals = reflective proposals + merges tried; merged "
        "cands 'new' = merged candidates whose texts no earlier candidate has. gepa checks "
        "its budget between iterations and may overshoot it; gepakit never does."
    )
    if args.out:
        Path(args.out).write_text(json.dumps(saved, indent=1, default=str) + "\n")


def _col(runs: list[dict[str, Any]]) -> str:
    calls = statistics.mean(r["calls"] for r in runs)
    return f"{_mean_se([r['best'] for r in runs])} ({calls:.1f})"


def _diff(runs: list[dict[str, Any]], base: list[dict[str, Any]]) -> str:
    return _mean_se([r["best"] - b["best"] for r, b in zip(runs, base, strict=True)])


def paired(args: argparse.Namespace) -> None:
    """gepa vs gepakit on the same seeds, per budget, and gepakit given gepa's calls.

    gepa may overshoot its budget; the last columns give gepakit, on each seed, the
    metric calls gepa actually used, so the comparison is at equal calls.
    """
    logging.disable(logging.INFO)
    budgets = [int(b) for b in args.budgets.split(",")]
    seeds = list(range(args.seeds))
    headers = [
        "budget",
        "gepa 0.1.4 best (calls)",
        "gepakit best (calls)",
        "paired gepakit - gepa",
        "gepakit at gepa's calls",
        "paired - gepa",
    ]
    rows: list[list[Any]] = []
    for budget in budgets:
        g, k, k2 = [], [], []
        for s in seeds:
            g.append(search_gepa(KeywordTask(seed=s, val_size=30, useful=0.2), budget, s, False))
            k.append(
                search_gepakit(KeywordTask(seed=s, val_size=30, useful=0.2), budget, s, False, 1)
            )
            calls = g[-1]["calls"]
            k2.append(
                search_gepakit(KeywordTask(seed=s, val_size=30, useful=0.2), calls, s, False, 1)
            )

        rows.append([budget, _col(g), _col(k), _diff(k, g), _col(k2), _diff(k2, g)])
        print(" | ".join(_fmt(c) for c in rows[-1]), file=sys.stderr, flush=True)
    print(
        f"\nd2. search, keyword 20% useful, valset 30: {len(seeds)} seeds paired by seed, "
        "instant fake LM"
    )
    print(table(headers, rows))


# -- e. concurrency without a quality loss ---------------------------------------


Runner = Callable[[int, int], tuple[dict[str, Any], int]]
"""One concurrency task: (seed, K) -> (the run's numbers, reflections made)."""


def concurrency(args: argparse.Namespace) -> None:
    """K=1 vs K>1 at the same budget under simulated latency (scaled by --time-scale).

    Every K runs the same task seeds; "paired Δ" is the mean per-seed difference of
    the best val score from K=1's, ± its standard error. "time to K=1's best" is a
    speed-up at equal quality: when the run's best first reached K=1's final best on
    the same seed (its whole wall time where it never did), over K=1's wall time.
    """
    logging.disable(logging.INFO)
    scale = args.time_scale
    rollout_s, reflect_s = 0.2 * scale, 2.0 * scale
    budget, seeds = args.quality_budget, list(range(args.seeds))

    def keyword(useful: float) -> Runner:
        def run(s: int, k: int) -> tuple[dict[str, Any], int]:
            task = KeywordTask(
                seed=s,
                val_size=50,
                useful=useful,
                rewrite=args.rewrite,
                rollout_sleep=rollout_s,
                reflect_sleep=reflect_s,
            )
            return run_gepakit(task, budget, seed=s, workers=8, proposals=k), task.reflections.calls

        return run

    def toy(spec: str) -> Runner:
        rules, _, parts = spec.partition("x")
        names = tuple(f"c{i}" for i in range(int(parts or 1)))

        def run(s: int, k: int) -> tuple[dict[str, Any], int]:
            res = run_toy(int(rules), names, budget, s, k, rollout_s, reflect_s)
            return res, res["reflections"]

        return run

    tasks: list[tuple[str, Runner]] = [
        (
            (
                "keyword (every proposal useful)"
                if useful >= 1
                else f"low acceptance ({100 * useful:g}% useful)"
            )
            + (", every proposal rewrites the text" if args.rewrite else "")
            + ", valset 50",
            keyword(useful),
        )
        for useful in (float(u) for u in args.useful.split(",") if u)
    ]
    for spec in (t for t in args.toy.split(",") if t):
        rules, _, parts = spec.partition("x")
        tasks.append(
            (
                f"ToyTask, {rules} rules in {parts or 1} component(s), every proposal useful, "
                f"valset {2 * int(rules)}",
                toy(spec),
            )
        )
    ks = [1, 4] if args.quick else [1, 2, 4, 8]
    saved: dict[str, Any] = {"argv": sys.argv[1:], "tasks": {}}
    headers = [
        "K",
        "metric calls",
        "reflections",
        "best val ± SE",
        "vs K=1",
        "paired Δ ± SE",
        "wall s",
        "wall/K=1",
        "time to K=1's best / K=1 wall",
        "seeds that reached it",
    ]
    for label, run_one in tasks:
        rows: list[list[Any]] = []
        base: dict[str, Any] = {}
        for k in ks:
            bests, walls, calls, props, reach, hit = [], [], [], [], [], 0
            for s in seeds:
                res, reflections = run_one(s, k)
                bests.append(res["best"])
                walls.append(res["wall"])
                if k == 1:
                    reach.append(res["wall"])
                else:  # how soon it reached K=1's final best on this seed
                    target = base["bests"][len(bests) - 1]
                    reach.append(_time_to(res["best_times"], target, res["wall"]))
                    hit += res["best"] >= target - 1e-9
                calls.append(res["calls"])
                props.append(reflections)
            mean = statistics.mean(bests)
            se = statistics.stdev(bests) / len(bests) ** 0.5 if len(bests) > 1 else 0.0
            wall = statistics.mean(walls)
            if k == 1:
                base = {"best": mean, "wall": wall, "bests": bests, "walls": walls}
            diffs = [b - b1 for b, b1 in zip(bests, base["bests"], strict=True)]
            rows.append(
                [
                    f"K={k}",
                    statistics.mean(calls),
                    statistics.mean(props),
                    f"{mean:.3f} ± {se:.3f}",
                    f"{100 * (mean / base['best'] - 1):+.1f}%" if base["best"] else "-",
                    _mean_se(diffs) if k != 1 else "-",
                    wall,
                    wall / base["wall"],
                    statistics.mean(reach) / base["wall"] if k > 1 else 1.0,
                    f"{hit}/{len(seeds)}" if k > 1 else "-",
                ]
            )
            print(" | ".join(_fmt(c) for c in rows[-1]), file=sys.stderr, flush=True)
        title = (
            f"e. concurrency, {label}: workers=8, budget {budget}, "
            f"{len(seeds)} seeds, latency {rollout_s:g}s/rollout {reflect_s:g}s/reflection"
        )
        print(f"\n{title}")
        print(table(headers, rows))
        saved["tasks"][label] = {"title": title, "headers": headers, "rows": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(saved, indent=1, default=str) + "\n")


KQUALITY_TASKS: dict[str, tuple[str, dict[str, Any], bool]] = {
    "kw20": ("keyword, 20% useful", {"useful": 0.2}, False),
    "kw100": ("keyword, every proposal useful", {"useful": 1.0}, False),
    "rw10": ("rewrite, 10% useful", {"useful": 0.1, "rewrite": True}, False),
    "rw20": ("rewrite, 20% useful", {"useful": 0.2, "rewrite": True}, False),
    "rw50": ("rewrite, 50% useful", {"useful": 0.5, "rewrite": True}, False),
    "merge": ("merge: 2 components, merge on", TWO_PARTS, True),
    "tradeoff": ("merge, trade-off 0.02, merge on", TRADEOFF, True),
}
KQUALITY_CELLS = (
    "kw20:30:100,kw20:30:300,kw20:30:1000,kw20:50:800,kw100:30:1000,rw10:30:1000,"
    "rw10:50:800,rw20:30:300,rw20:30:1000,rw20:50:800,rw50:30:1000,merge:30:300,"
    "merge:30:1000,tradeoff:30:300,tradeoff:30:1000"
)


class _Inline:
    """`pool.map` in this process (for `--processes 1`)."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map(self, fn: Callable[[Any], float], jobs: Sequence[Any]) -> list[float]:
        return [fn(j) for j in jobs]


def _kquality_run(job: tuple[str, int, int, int, int]) -> float:
    name, val, budget, seed, k = job
    logging.disable(logging.INFO)
    _, task_kw, merge = KQUALITY_TASKS[name]
    task = KeywordTask(seed=seed, val_size=val, **task_kw)
    return float(search_gepakit(task, budget, seed, merge, k)["best"])


def kquality(args: argparse.Namespace) -> None:
    """K proposals in flight against K=1 at equal metric calls, instant fakes, paired
    by seed, on tasks whose edits rebase (keyword) and whose edits never do (rewrite:
    every proposal reorders the words, as an LM writing a new text each time).

    Sample efficiency only: no latency, so no wall times (`concurrency` has those).
    Runs on `--processes` processes (2); K > 1 runs are not bit-reproducible (threads finish in any
    order), so reruns move within the SE.
    """
    from concurrent.futures import ProcessPoolExecutor

    k = args.k
    rows: list[list[Any]] = []
    with ProcessPoolExecutor(args.processes) if args.processes > 1 else _Inline() as pool:
        for cell in args.cells.split(","):
            name, val, budget = cell.split(":")
            v, b = int(val), int(budget)
            jobs = [(name, v, b, s, 1) for s in range(args.seeds)]
            serial = list(pool.map(_kquality_run, jobs))
            wide = list(pool.map(_kquality_run, [(*j[:4], k) for j in jobs]))
            diffs = [w - s for w, s in zip(wide, serial, strict=True)]
            rows.append(
                [
                    KQUALITY_TASKS[name][0],
                    v,
                    b,
                    _mean_se(serial),
                    _mean_se(wide),
                    _mean_se(diffs),
                ]
            )
            print(" | ".join(_fmt(c) for c in rows[-1]), file=sys.stderr, flush=True)
    print(
        f"\nf. K={k} vs K=1 at equal metric calls: best val, {args.seeds} seeds paired, "
        "instant fake LM and evaluator, minibatch 3"
    )
    print(table(["task", "val", "budget", "K=1", f"K={k}", f"paired K={k} - K=1"], rows))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="gepakit vs gepa benchmarks")
    parser.add_argument(
        "what",
        choices=[
            "latency",
            "overhead",
            "quality",
            "search",
            "grid",
            "paired",
            "concurrency",
            "kquality",
            "all",
            "overhead-child",
        ],
    )
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="concurrency: multiply the latencies"
    )
    parser.add_argument("--quick", action="store_true", help="search: a small subset")
    parser.add_argument(
        "--latency-scale",
        type=float,
        default=0.0,
        help="search: simulated latency (0.2 s rollouts, 2 s reflections) x this; 0 = none",
    )
    parser.add_argument(
        "--scenario",
        default=None,
        help="search / grid: run only these scenarios, comma-separated: keyword, merge, "
        "tradeoff (default: all)",
    )
    parser.add_argument("--out", default=None, help="search / concurrency: save a JSON here")
    parser.add_argument("--budget", type=int, default=20_000, help="overhead budget")
    parser.add_argument("--quality-budget", type=int, default=800)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budgets", default="50,100,300", help="paired: budgets")
    parser.add_argument(
        "--useful",
        default="1.0,0.15",
        help="concurrency: shares of useful proposals, one task each (comma-separated)",
    )
    parser.add_argument(
        "--toy",
        default="",
        help="concurrency: also ToyTask tasks, comma-separated RULES or RULESxCOMPONENTS "
        "(e.g. 12,24x2; default: none)",
    )
    parser.add_argument(
        "--rewrite",
        action="store_true",
        help="concurrency: proposals reorder the words (edits do not rebase onto siblings)",
    )
    parser.add_argument("--k", type=int, default=4, help="kquality: proposals in flight")
    parser.add_argument("--processes", type=int, default=2, help="kquality: processes")
    parser.add_argument(
        "--cells", default=KQUALITY_CELLS, help="kquality: TASK:VALSET:BUDGET, comma-separated"
    )
    parser.add_argument("--ray", action="store_true", help="also run gepakit on Ray (latency)")
    parser.add_argument("--impl", choices=["gepa", "gepakit"], default="gepakit")
    parser.add_argument("--run-dir", default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if args.what == "overhead-child":
        overhead_child(args)
        return
    if args.what in ("search", "grid", "all"):
        search(args)
    if args.what == "paired":
        paired(args)
    if args.what in ("concurrency", "all"):
        concurrency(args)
    if args.what == "kquality":
        kquality(args)
    if args.what in ("quality", "all"):
        quality(args)
    if args.what in ("overhead", "all"):
        overhead(args)
    if args.what in ("latency", "all"):
        latency(args)


if __name__ == "__main__":
    main()
