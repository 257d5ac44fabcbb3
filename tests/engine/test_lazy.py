"""Lazy feedback: computed only for the rollouts a proposal reflects on."""

from __future__ import annotations

import threading
from typing import Any

import gepakit
from gepakit.engine.lazy import resolve_lazy_feedback


def test_callables_are_resolved_and_errors_become_text() -> None:
    def broken() -> str:
        raise RuntimeError("judge down")

    dataset = {
        "p": [
            {"Inputs": 1, "Generated Outputs": 2, "Feedback": lambda: "late text"},
            {"Inputs": 1, "Generated Outputs": 2, "Feedback": broken},
            {"Inputs": 1, "Generated Outputs": 2, "Feedback": "plain"},
        ]
    }
    out = resolve_lazy_feedback(dataset)
    assert [r["Feedback"] for r in out["p"]] == [
        "late text",
        "(feedback unavailable: RuntimeError: judge down)",
        "plain",
    ]


def test_lazy_feedback_runs_only_for_reflected_rollouts() -> None:
    lock = threading.Lock()
    judged: list[str] = []
    rollouts: list[str] = []

    def evaluate(candidate: dict[str, str], example: dict[str, Any]) -> gepakit.Score:
        with lock:
            rollouts.append(example["id"])

        def judge() -> str:
            with lock:
                judged.append(example["id"])
            return f"example {example['id']} needs the word {example['word']}"

        ok = example["word"] in candidate["p"]
        trace = {"p": {"inputs": example["id"], "outputs": "x", "feedback": judge}}
        return gepakit.Score(1.0 if ok else 0.0, trace=trace)

    data = [{"id": f"e{i}", "word": f"w{i % 3}"} for i in range(6)]
    prompts: list[str] = []

    def reflect(prompt: str) -> str:
        prompts.append(prompt)
        return "```\n" + " ".join(f"w{i}" for i in range(len(prompts))) + "\n```"

    gepakit.optimize(
        {"p": "start"}, data, data, evaluator=evaluate, reflection_lm=reflect,
        max_metric_calls=60, use_merge=False,
    )  # fmt: skip
    assert prompts and judged
    # Each reflection shows 3 records; only those were judged, not every rollout.
    assert len(judged) == 3 * len(prompts) < len(rollouts)
    assert all("needs the word" in p for p in prompts)
