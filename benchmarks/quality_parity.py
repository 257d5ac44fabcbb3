"""Quality parity: gepakit vs gepa 0.1.4 on the keyword task, at nominal and equal spend.

Usage (from the repository root, with requirements/bench.txt installed)::

    python benchmarks/quality_parity.py                  # 5 + 100 seeds, budget 800
    python benchmarks/quality_parity.py --seeds 400 --budget 500

gepa 0.1.4 checks its budget only between iterations, so it overshoots
``max_metric_calls`` by up to one step (2 x minibatch + valset); gepakit never spends
more than its budget and does not start a step that cannot complete. A comparison at
the same *nominal* budget therefore gives gepa more metric calls. Rows:

- gepa, nominal budget B (spends up to B + 2*mb + V);
- gepa, capped: ``max_metric_calls = B - (2*mb + V) + 1``, so it never exceeds B;
- gepakit serial at B (never exceeds B);
- gepakit serial at "gepa's calls": the number of calls gepa used on the same seed
  (equal spend);
- gepakit workers=8 K=4 (max_concurrent_proposals), nominal and equal spend.

Seed s is both the task seed and the optimizer seed. Columns: the median best val
score over seeds 0-4 (the issue's yardstick; very noisy), the mean over all seeds with
its standard error, the mean paired difference to gepa at nominal budget (same seed)
with its standard error, and the median metric calls and candidates.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gepa_compare import MINIBATCH, run_gepa, run_gepakit, table
from keyword_task import KeywordTask

Runner = Callable[[KeywordTask, int], dict[str, Any]]


def _mean_se(xs: Sequence[float]) -> str:
    if len(xs) < 2:
        return f"{statistics.mean(xs):.3f}"
    return f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs) / math.sqrt(len(xs)):.3f}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--budget", type=int, default=800)
    parser.add_argument("--seeds", type=int, default=100, help="seeds for mean ± SE")
    parser.add_argument("--no-concurrent", action="store_true", help="skip the K=4 rows")
    args = parser.parse_args(argv)
    budget, seeds = args.budget, list(range(max(5, args.seeds)))
    val_size = len(KeywordTask().valset)
    step = 2 * MINIBATCH + val_size
    gepa_calls: dict[int, int] = {}

    def gepa_nominal(t: KeywordTask, s: int) -> dict[str, Any]:
        res = run_gepa(t, budget, seed=s)
        gepa_calls[s] = res["calls"]
        return res

    variants: list[tuple[str, str, Runner]] = [
        ("gepa 0.1.4", f"{budget} (nominal)", gepa_nominal),
        (
            "gepa 0.1.4, capped",
            f"{budget - step + 1} (spends <= {budget})",
            lambda t, s: run_gepa(t, budget - step + 1, seed=s),
        ),
        ("gepakit serial", f"{budget}", lambda t, s: run_gepakit(t, budget, seed=s)),
        (
            "gepakit serial",
            "gepa's calls (equal spend)",
            lambda t, s: run_gepakit(t, gepa_calls[s], seed=s),
        ),
    ]
    if not args.no_concurrent:
        variants += [
            (
                "gepakit workers=8 K=4",
                f"{budget}",
                lambda t, s: run_gepakit(t, budget, seed=s, workers=8, proposals=4),
            ),
            (
                "gepakit workers=8 K=4",
                "gepa's calls (equal spend)",
                lambda t, s: run_gepakit(t, gepa_calls[s], seed=s, workers=8, proposals=4),
            ),
        ]
    started = time.perf_counter()
    results: list[list[dict[str, Any]]] = []
    for _, _, fn in variants:
        results.append([fn(KeywordTask(seed=s), s) for s in seeds])
    reference = [r["best"] for r in results[0]]
    rows = []
    for (name, spend, _), runs in zip(variants, results, strict=True):
        best = [r["best"] for r in runs]
        diff = [b - g for b, g in zip(best, reference, strict=True)]
        rows.append(
            [
                name,
                spend,
                statistics.median(best[:5]),
                _mean_se(best),
                _mean_se(diff) if runs is not results[0] else "-",
                statistics.median(r["calls"] for r in runs),
                statistics.median(r["candidates"] for r in runs),
            ]
        )
    print(
        f"\nquality parity: keyword task (valset {val_size}, minibatch {MINIBATCH}), "
        f"no merge, budget {budget}; seed s = task and optimizer seed"
    )
    print(
        table(
            [
                "optimizer",
                "max_metric_calls",
                "median best (seeds 0-4)",
                f"mean best ± SE ({len(seeds)} seeds)",
                "paired diff vs gepa nominal",
                "median calls",
                "median candidates",
            ],
            rows,
        )
    )
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
