"""How often a gepa `GEPAAdapter` is called: per-example glue vs `gepakit.gepa.optimize`.

Runs the same batched two-component adapter (a deterministic fake over
`gepakit.testing.ToyTask`, no LM) three ways with the same budget and prints the
``evaluate`` calls, examples evaluated, ``make_reflective_dataset`` calls, metric
calls and best val score:

- glue: `gepakit.optimize` with an evaluator wrapping ``adapter.evaluate([example])``
  and ``make_reflective_dataset`` for the feedback (what issue 12 measured);
- `gepakit.gepa.optimize(adapter=...)`;
- `gepa.optimize(adapter=...)` itself, when gepa is installed.

Usage: python benchmarks/gepa_adapter_calls.py [--budget 300]
"""

from __future__ import annotations

import argparse
import logging
import re
from typing import Any

import gepakit
import gepakit.gepa
from gepakit.gepa import EvaluationBatch
from gepakit.testing import ToyTask


class CountingAdapter:
    """A batched two-component adapter over ToyTask that counts its calls."""

    propose_new_texts = None  # gepa's protocol attribute: use the reflection LM

    def __init__(self, task: ToyTask) -> None:
        self.task = task
        self.evaluate_calls = 0
        self.examples = 0
        self.dataset_calls = 0

    def evaluate(self, batch: list[Any], candidate: dict[str, str], capture_traces: bool = False):
        self.evaluate_calls += 1
        self.examples += len(batch)
        scores = [self.task.score(candidate, item) for item in batch]
        return EvaluationBatch(
            outputs=[s.output for s in scores],
            scores=[s.score for s in scores],
            trajectories=[{"feedback": s.feedback} for s in scores] if capture_traces else None,
        )

    def make_reflective_dataset(self, candidate, eval_batch, components_to_update):
        self.dataset_calls += 1
        return {
            c: [{"Inputs": "-", "Generated Outputs": "-", "Feedback": t["feedback"]}]
            for c in components_to_update
            for t in eval_batch.trajectories
        }


def reflect_any(task: ToyTask) -> Any:
    """The task's scripted reflection, also for gepa's own reflection prompt."""

    def reflect(prompt: str) -> str:
        if "The following are examples of different task inputs" not in prompt:
            return task.reflect(prompt)
        current = prompt.split("```\n", 1)[1].split("\n```", 1)[0]
        component = re.search(r"\((\w+)\)", current)
        name = component.group(1) if component else ""
        rules = re.findall(rf"missing (\[R\d+\]) in '{name}'", prompt)
        new = current + "".join(f" {r}" for r in dict.fromkeys(rules) if r not in current)
        return f"```\n{new}\n```"

    return reflect


def make_task() -> ToyTask:
    return ToyTask(
        num_rules=12, components=("plan", "style"), needs_per_example=2, train_size=20, val_size=10
    )


def run_glue(budget: int) -> tuple[CountingAdapter, float, int]:
    task = make_task()
    adapter = CountingAdapter(task)

    def evaluator(candidate: dict[str, str], example: Any) -> gepakit.Score:
        out = adapter.evaluate([example], candidate, capture_traces=True)
        records = adapter.make_reflective_dataset(candidate, out, list(candidate))
        feedback = "; ".join(str(r[0]["Feedback"]) for r in records.values())
        return gepakit.Score(out.scores[0], feedback=feedback, output=out.outputs[0])

    result = gepakit.optimize(
        task.seed_candidate,
        task.trainset,
        task.valset,
        evaluator=evaluator,
        reflection_lm=task.reflect,
        max_metric_calls=budget,
        use_merge=False,
        track_best_outputs=True,
    )
    return adapter, result.best_score, result.total_metric_calls


def run_compat(budget: int, optimize: Any) -> tuple[CountingAdapter, float, int]:
    task = make_task()
    adapter = CountingAdapter(task)
    result = optimize(
        seed_candidate=task.seed_candidate,
        trainset=task.trainset,
        valset=task.valset,
        adapter=adapter,
        reflection_lm=reflect_any(task),
        max_metric_calls=budget,
    )
    return adapter, max(result.val_aggregate_scores), result.total_metric_calls


def main() -> None:
    parser = argparse.ArgumentParser(description="gepa adapter call counts")
    parser.add_argument("--budget", type=int, default=300)
    args = parser.parse_args()
    logging.getLogger("gepakit").setLevel(logging.ERROR)
    rows = [("glue (gepakit.optimize)", *run_glue(args.budget))]
    rows.append(("gepakit.gepa.optimize", *run_compat(args.budget, gepakit.gepa.optimize)))
    try:
        import gepa
    except ImportError:
        gepa = None
    if gepa is not None:
        rows.append(("gepa.optimize", *run_compat(args.budget, gepa.optimize)))  # pyright: ignore[reportPrivateImportUsage]
    print(f"budget {args.budget} metric calls; ToyTask, 2 components, train 20, val 10")
    print(f"{'run':26} {'evaluate':>9} {'examples':>9} {'datasets':>9} {'calls':>6} {'best':>5}")
    for name, adapter, best, calls in rows:
        print(
            f"{name:26} {adapter.evaluate_calls:9d} {adapter.examples:9d} "
            f"{adapter.dataset_calls:9d} {calls:6d} {best:5.2f}"
        )


if __name__ == "__main__":
    main()
