"""A deterministic toy task for store and resume tests: no LM, no network.

Each example names a word; the evaluator scores 1 when the instruction mentions
it. The scripted reflection function reads the feedback in the prompt and writes
an instruction with the missing words, plus one word picked by a hash of the
prompt, so the search accepts some children and rejects others.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gepakit import Score
from gepakit.types import Candidate, Rollout

WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    "india", "juliet", "kilo", "lima",
]  # fmt: skip
SEED = {"instruction": "Answer the question."}
TRAIN = [{"id": f"t{i}", "word": WORDS[(3 * i) % len(WORDS)]} for i in range(12)]
VAL = [{"id": f"v{i}", "word": WORDS[(5 * i + 1) % len(WORDS)]} for i in range(8)]

CUT = "\udce9\ud83d"
"""Text UTF-8 cannot hold: a lone surrogate and half an emoji (cut by max_tokens)."""


def with_surrogates(
    seed: dict[str, str], train: list[dict[str, Any]], val: list[dict[str, Any]]
) -> tuple[dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
    """The task with lone surrogates in the seed text, example ids and example data."""
    seed = {k: f"{v} {CUT}" for k, v in seed.items()}
    train = [{**ex, "id": ex["id"] + CUT, "note": CUT} for ex in train]
    val = [{**ex, "id": ex["id"] + CUT, "note": CUT} for ex in val]
    return seed, train, val


class Evaluator:
    """Scores word mentions; can sleep, log each call, and SIGKILL its own process."""

    evaluator_id = "fake-task-v1"

    def __init__(
        self,
        *,
        sleep: float = 0.0,
        calls_log: Path | None = None,
        kill_on_val_call: int | None = None,
        surrogates: bool = False,
        on_call: Callable[[int], None] | None = None,
    ) -> None:
        self.sleep = sleep
        self.calls_log = calls_log
        self.kill_on_val_call = kill_on_val_call
        self.surrogates = surrogates
        self.on_call = on_call
        self.calls = 0
        self.val_calls = 0

    def __call__(self, candidate: Mapping[str, str], example: Mapping[str, Any]) -> Score:
        self.calls += 1
        if self.on_call is not None:
            self.on_call(self.calls)
        if self.sleep:
            time.sleep(self.sleep)
        if self.calls_log is not None:
            cid = Candidate(components=dict(candidate)).id
            with open(self.calls_log, "a", encoding="utf-8", errors="backslashreplace") as f:
                f.write(f"{cid} {example['id']}\n")
        if str(example["id"]).startswith("v"):
            self.val_calls += 1
            if self.val_calls == self.kill_on_val_call:
                os.kill(os.getpid(), signal.SIGKILL)
        word = example["word"]
        ok = word in candidate["instruction"].split()
        cut = f" {CUT}" if self.surrogates else ""
        return Score(
            1.0 if ok else 0.0,
            feedback=("correct" if ok else f"the instruction should mention '{word}'") + cut,
            output={"answer": (word if ok else "?") + cut, **({cut: cut} if cut else {})},
            trace={"instruction": {"outputs": cut}} if cut else None,
        )


def reflection(
    *, sleep: float = 0.0, kill_on_call: int | None = None, surrogates: bool = False
) -> Callable[[str], str]:
    """A scripted reflection LM: the reply depends only on the prompt."""
    calls = [0]

    def reflect(prompt: str) -> str:
        calls[0] += 1
        if sleep:
            time.sleep(sleep)
        if calls[0] == kill_on_call:
            os.kill(os.getpid(), signal.SIGKILL)
        missing = sorted(set(re.findall(r"should mention '(\w+)'", prompt)))
        digest = int(hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).hexdigest(), 16)
        extra = WORDS[digest % len(WORDS)]
        cut = f" {CUT}" if surrogates else ""
        return "```\nAnswer using " + " ".join([*missing, extra]) + " ." + cut + "\n```"

    return reflect


class BatchEvaluator(Evaluator):
    """The same evaluator behind `evaluate_batch` (one call per request, like a gepa
    adapter): the run stores each request's rollouts together."""

    def evaluate_batch(
        self, candidate: Candidate, examples: Any, split: Any, capture_traces: bool
    ) -> list[Rollout]:
        out = []
        for ex in examples:
            s = self(candidate.components, ex.data)
            out.append(
                Rollout(
                    candidate_id=candidate.id,
                    example_id=ex.id,
                    split=split,
                    score=s.score,
                    feedback=s.feedback,
                    output=s.output,
                    trace=s.trace,
                )
            )
        return out
