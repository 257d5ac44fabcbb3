"""Noisy evaluators: what eval_repeats buys, at equal evaluations and at equal metric calls.

    python benchmarks/noisy_evaluators.py [--seeds 20] [--noise 0.3 0.5] [--budget 120]

`gepakit.testing.NoisyEvaluator` wraps `ToyTask(num_rules=6, train_size=12, val_size=12)`
(scored noise-free by `ToyTask.score`): with probability `noise` a call returns a coin
flip instead of the true score. Each row runs the toy reflection over the seeds and
reports the *true* (noise-free) val score of the candidate the run returned (mean ± SE
and the spread across seeds), the run's own estimate of it, and the metric calls used.
Rows: eval_repeats=1 at the base budget, then at 4 x the base budget eval_repeats=1
(with and without reuse_evaluations), 2 and 4 (4 is "the same evaluations" as the
first row; every row at 4 x is "the same calls", though a run may stop before using
them) and 2 without reuse. No LM, no network; seconds per row.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

import gepakit
from gepakit.testing import NoisyEvaluator, ToyTask


def true_val(task: ToyTask, candidate: dict[str, str]) -> float:
    """The noise-free mean val score of `candidate`."""
    return statistics.fmean(task.score(candidate, ex).score for ex in task.valset)


def row(
    noise: float, repeats: int, budget: int, seeds: Sequence[int], reuse: bool = True
) -> dict[str, float]:
    """One configuration over `seeds`: true and estimated score of the returned best."""
    trues: list[float] = []
    estimates: list[float] = []
    calls: list[int] = []
    started = time.perf_counter()
    for seed in seeds:
        task = ToyTask(num_rules=6, train_size=12, val_size=12)
        noisy = NoisyEvaluator(task.score, noise=noise, seed=seed)
        result = gepakit.optimize(
            task.seed_candidate,
            task.trainset,
            task.valset,
            evaluator=noisy,
            reflection_lm=task.reflect,
            max_metric_calls=budget,
            seed=seed,
            eval_repeats=repeats,
            reuse_evaluations=reuse,
            progress=False,
            quiet=True,
        )
        assert noisy.calls == result.total_metric_calls <= budget
        trues.append(true_val(task, dict(result.best_candidate)))
        estimates.append(result.best_score)
        calls.append(result.total_metric_calls)
    n = len(trues)
    return {
        "true": statistics.fmean(trues),
        "se": statistics.stdev(trues) / n**0.5 if n > 1 else 0.0,
        "sd": statistics.stdev(trues) if n > 1 else 0.0,
        "estimate": statistics.fmean(estimates),
        "calls": statistics.fmean(calls),
        "seconds": time.perf_counter() - started,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.3, 0.5])
    parser.add_argument("--budget", type=int, default=120)
    args = parser.parse_args(argv)
    seeds = range(args.seeds)
    print(
        "| noise | eval_repeats | reuse | max_metric_calls | true val of the returned best "
        "(mean ± SE) | sd over seeds | its estimate | calls used | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    big = 4 * args.budget
    plan = [(1, True, args.budget), (1, True, big), (1, False, big), (2, True, big)]
    plan += [(4, True, big), (2, False, big)]
    for noise in args.noise:
        for repeats, reuse, budget in plan:
            r = row(noise, repeats, budget, seeds, reuse)
            print(
                f"| {noise:g} | {repeats} | {reuse} | {budget} | {r['true']:.3f} ± "
                f"{r['se']:.3f} | {r['sd']:.3f} | {r['estimate']:.3f} | {r['calls']:.0f} | "
                f"{r['seconds']:.1f} |"
            )


if __name__ == "__main__":
    main()
