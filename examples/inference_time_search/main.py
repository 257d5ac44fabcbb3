"""Inference-time search: use GEPA to solve a fixed set of tasks, not to generalize.

Each task asks for a regular expression that fully matches some strings and rejects
others. The trainset *is* the valset (the tasks to solve), and with
``track_best_outputs=True`` the result keeps, for every task, the best output any
candidate produced: that output is the answer, whichever candidate wrote it.

Run offline on the embedded local models (pip install 'gepakit[local]'):

    python examples/inference_time_search/main.py --local --budget 100

or with a hosted model: --task-lm openai/gpt-4o-mini --reflection-lm openai/gpt-4o
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import gepakit
from gepakit.lm import resolve_lm

TASKS = Path(__file__).with_name("tasks.jsonl")
SEED = {"instructions": "Write a regular expression for the description. Reply with it only."}


def load_tasks() -> list[dict[str, Any]]:
    return [json.loads(line) for line in TASKS.read_text(encoding="utf-8").splitlines()]


def extract_pattern(reply: str) -> str:
    """The regex in a reply: the first fenced or backticked span, else the first line."""
    fenced = re.search(r"```(?:\w+)?\n?(.*?)```", reply, re.S) or re.search(r"`([^`]+)`", reply)
    text = fenced.group(1) if fenced else reply
    return (text.strip().splitlines() or [""])[0].strip()


def check(pattern: str, task: dict[str, Any]) -> tuple[float, list[str]]:
    """Share of the task's strings the pattern classifies right, and the mistakes."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        return 0.0, [f"the pattern does not compile: {exc}"]
    mistakes = [f"should match {s!r}" for s in task["match"] if not compiled.fullmatch(s)]
    mistakes += [f"should reject {s!r}" for s in task["reject"] if compiled.fullmatch(s)]
    total = len(task["match"]) + len(task["reject"])
    return 1.0 - len(mistakes) / total, mistakes


class RegexWriter:
    """The system: an LM writes a pattern for a task's description."""

    def __init__(self, task_lm: Any) -> None:
        self.lm = resolve_lm(task_lm, role="task")

    def __call__(self, candidate: dict[str, str], task: dict[str, Any]) -> gepakit.Score:
        prompt = f"{candidate['instructions']}\n\nDescription: {task['description']}"
        reply = self.lm.complete(
            [{"role": "user", "content": prompt}], temperature=0.0, max_tokens=80
        ).text
        pattern = extract_pattern(reply)
        score, mistakes = check(pattern, task)
        feedback = (
            "All strings classified right."
            if not mistakes
            else f"Pattern {pattern!r}: " + "; ".join(mistakes)
        )
        return gepakit.Score(score, feedback=feedback, output=pattern)


# --8<-- [start:run]
def run(task_lm: Any, reflection_lm: Any, *, budget: int) -> tuple[gepakit.Result, dict[str, Any]]:
    """Search; return the result and the best pattern found for each task."""
    tasks = load_tasks()
    result = gepakit.optimize(
        SEED,
        tasks,
        tasks,  # train = val: we want answers for these very tasks
        evaluator=RegexWriter(task_lm),
        reflection_lm=reflection_lm,
        max_metric_calls=budget,
        track_best_outputs=True,
    )
    assert result.best_outputs_valset is not None
    best = {
        task_id: outputs[0][1]  # (candidate index, output) pairs of the best score
        for task_id, outputs in result.best_outputs_valset.items()
        if outputs
    }
    return result, best


# --8<-- [end:run]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--local", action="store_true", help="use the embedded local models")
    parser.add_argument("--task-lm", default="openai/gpt-4o-mini")
    parser.add_argument("--reflection-lm", default="openai/gpt-4o")
    parser.add_argument("--budget", type=int, default=100)
    args = parser.parse_args(argv)
    task, reflection = args.task_lm, args.reflection_lm
    if args.local:
        task, reflection = "local", "local/qwen2.5-coder-1.5b"
    result, best = run(task, reflection, budget=args.budget)
    tasks = {t["id"]: t for t in load_tasks()}
    for task_id, pattern in best.items():
        score, _ = check(pattern, tasks[task_id])
        print(f"{task_id:12} {score:5.0%}  {pattern}")
    print(f"{result.total_metric_calls} metric calls, {result.num_candidates} candidates")


if __name__ == "__main__":
    main()
