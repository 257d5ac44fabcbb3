"""Optimize a two-predictor DSPy program with gepakit.dspy.GEPA on the embedded local model.

The program first restates what the user wants, then names the intent (one of the seven
SNIPS labels). The metric gives feedback per predictor. Both the task LM and the
reflection LM are ``dspy.LM`` clients of the local model's OpenAI-compatible endpoint,
so nothing leaves the machine.

Run (needs ``pip install 'gepakit[dspy,local]'``; a few minutes on two CPU cores):

    python examples/dspy_multi_predictor.py --budget 60 --log-dir runs/dspy-intent

Run it again with the same --log-dir to resume.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import dspy

from gepakit.data import INTENT_LABELS, load_intent_dataset
from gepakit.dspy import GEPA, DspyGEPAResult
from gepakit.local.runtime import local_lm


class Intent(dspy.Module):
    """restate (text -> request) then classify (text, request -> intent)."""

    def __init__(self) -> None:
        super().__init__()
        self.restate = dspy.Predict("text -> request")
        self.classify = dspy.Predict("text, request -> intent")

    def forward(self, text: str) -> dspy.Prediction:
        request = self.restate(text=text).request
        return self.classify(text=text, request=request)


def normalize(label: Any) -> str:
    return str(label or "").strip().strip("`'\".").lower().replace(" ", "_")


def metric(
    gold: dspy.Example,
    pred: dspy.Prediction,
    trace: Any = None,
    pred_name: str | None = None,
    pred_trace: Any = None,
) -> dspy.Prediction:
    """1.0 for the right intent; feedback names the allowed labels and the right one."""
    got = normalize(pred.get("intent"))
    ok = got == gold.label
    allowed = ", ".join(INTENT_LABELS)
    if ok:
        feedback = f"Correct: the intent is {gold.label}."
    elif got not in INTENT_LABELS:
        feedback = f"'{got}' is not a label. Answer with exactly one of: {allowed}."
    else:
        feedback = f"Wrong: answered {got}, the intent is {gold.label}."
    if pred_name == "restate" and not ok:
        feedback += " The restated request should make the user's goal unmistakable."
    return dspy.Prediction(score=float(ok), feedback=feedback)


def to_examples(rows: list[dict[str, str]]) -> list[dspy.Example]:
    return [
        dspy.Example(id=r["id"], text=r["text"], label=r["label"]).with_inputs("text") for r in rows
    ]


def local_dspy_lm(name: str = "local", **kwargs: Any) -> dspy.LM:
    """A dspy.LM talking to the embedded model's OpenAI-compatible HTTP endpoint."""
    local = local_lm(name.partition("/")[2] or "qwen2.5-coder-0.5b")
    options: dict[str, Any] = {"temperature": 0.0, "max_tokens": 256, "cache": False}
    options.update(kwargs)
    return dspy.LM(f"openai/{local.spec.name}", api_base=local.base_url, api_key="local", **options)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="Optimize a DSPy program on the local model.")
    parser.add_argument("--budget", type=int, default=60, help="max metric calls")
    parser.add_argument("--train", type=int, default=8)
    parser.add_argument("--val", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--log-dir", default=None)
    parser.add_argument("--reflection-model", default="local")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    train_rows, val_rows, _ = load_intent_dataset(n_train=args.train, n_val=args.val, n_test=0)
    trainset, valset = to_examples(train_rows), to_examples(val_rows)
    dspy.configure(lm=local_dspy_lm())
    optimizer = GEPA(
        metric,
        max_metric_calls=args.budget,
        reflection_lm=local_dspy_lm(args.reflection_model, temperature=0.7, max_tokens=512),
        reflection_minibatch_size=3,
        num_threads=args.threads,
        log_dir=args.log_dir,
        track_stats=True,
    )
    program = optimizer.compile(Intent(), trainset=trainset, valset=valset)
    details: DspyGEPAResult = getattr(program, "detailed_results")  # noqa: B009 (set at runtime)
    for name, text in details.to_dict()["candidates"][details.best_idx].items():
        print(f"--- {name} ---\n{text}\n")
    summary = {
        "seed_score": details.val_aggregate_scores[0],
        "best_score": details.val_aggregate_scores[details.best_idx],
        "candidates": len(details.candidates),
        "metric_calls": details.total_metric_calls,
        "usage": details.usage,
    }
    print(
        f"val score {summary['seed_score']:.2f} -> {summary['best_score']:.2f} "
        f"with {summary['candidates']} candidates and {summary['metric_calls']} metric calls"
    )
    return summary


if __name__ == "__main__":
    main()
