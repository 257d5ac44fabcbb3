"""`gepakit demo`: optimize an intent-classification prompt with two small local models.

The demo runs offline on a laptop CPU: the 0.5B local model answers, the 1.5B local
model reflects, and the shipped SNIPS intent data (`gepakit.data`) supplies train,
validation and held-out test examples. It prints the seed and the optimized prompt
side by side with their test accuracy.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from gepakit.api import optimize
from gepakit.data import INTENT_LABELS, load_intent_dataset
from gepakit.engine.protocols import EventSink
from gepakit.errors import ConfigError
from gepakit.lm import LM, UsageLedger, resolve_lm
from gepakit.programs import PromptProgram
from gepakit.result import Result
from gepakit.types import Proposal

__all__ = ["DEFAULT_BUDGET", "SEED_PROMPT", "DemoResult", "evaluate_prompt", "run_demo"]

SEED_PROMPT = "Classify the intent of the utterance."
DEFAULT_BUDGET = 300
"""Metric calls. Measured on 2 cores with the shape-to-fill reflection template and the
second try (2026-11-26): budget 300 used 294 calls in 384 s of optimizing, 8.1 min in
all, test 0% -> 60.0% (val 66.7%); at budget 200 the same run stopped at 168 calls
after 194 s with test 55.3%, leaving time unused. Latest (seed 0 / seed 1): test
0% -> 65.3% in 8.4 min / 0% -> 77.3% in 9.4 min (the 450 s cap stopped it at 141 calls)."""
OPTIMIZE_SECONDS = 400.0
"""Wall-time cap of the optimization (the run stops gracefully and keeps its best).
At temperature 0 the 1.5B reflection model often re-proposes the current text once it
has a good prompt; those proposals cost no metric calls but ~15 s each, so without a
cap a run could spend minutes on them (measured: best found at 3 min, then 7 min of
repeats). The cap was 450 s until 2026-12-02: with model loading, seed scoring and test
scoring (~95 s for 2 x 150 examples) the whole demo took 11.1 min on 2 cores; the last
new best of that run came at 353 s."""
DEFAULT_WORKERS = 4
"""Rollouts at once; the local 0.5B model serves 4 requests in parallel."""
TASK_MAX_TOKENS = 32
"""A label takes at most 8 tokens; longer replies are wrong anyway and cost time."""
REFLECTION_PARAMS: Mapping[str, Any] = {"max_tokens": 350, "repeat_penalty": 1.1}
"""Defaults for the 1.5B reflection model: stop loops early and penalize repetition."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoResult:
    """What the demo measured.

    Accuracies are on the held-out test split, which the optimizer never saw.
    `usage` maps role (``task``, ``reflection``, ``test``) to its LM usage counters.
    """

    seed_prompt: str
    optimized_prompt: str
    seed_test_accuracy: float
    optimized_test_accuracy: float
    seed_val_score: float
    optimized_val_score: float
    metric_calls: int
    budget: int
    num_candidates: int
    usage: Mapping[str, Mapping[str, Any]]
    run_dir: Path
    optimize_seconds: float
    total_seconds: float
    stop_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "seed_prompt": self.seed_prompt,
            "optimized_prompt": self.optimized_prompt,
            "seed_test_accuracy": self.seed_test_accuracy,
            "optimized_test_accuracy": self.optimized_test_accuracy,
            "seed_val_score": self.seed_val_score,
            "optimized_val_score": self.optimized_val_score,
            "metric_calls": self.metric_calls,
            "budget": self.budget,
            "num_candidates": self.num_candidates,
            "usage": dict(self.usage),
            "run_dir": str(self.run_dir),
            "optimize_seconds": self.optimize_seconds,
            "total_seconds": self.total_seconds,
            "stop_reason": self.stop_reason,
        }


def evaluate_prompt(
    program: PromptProgram,
    prompt: str,
    examples: Sequence[Mapping[str, Any]],
    *,
    workers: int = DEFAULT_WORKERS,
) -> float:
    """Mean score of `prompt` on `examples` (outside any optimization budget).

    Args:
        program: the evaluator; `prompt` fills its component.
        prompt: the system prompt to score.
        examples: the examples, e.g. the test split.
        workers: examples evaluated at once.

    Returns:
        The mean score, 0.0 for no examples.
    """
    if not examples:
        return 0.0
    candidate = {program.component: prompt}

    def score(example: Mapping[str, Any]) -> float:
        return program(candidate, example).score

    with ThreadPoolExecutor(max_workers=workers) as pool:
        scores = list(pool.map(score, examples))
    return sum(scores) / len(scores)


class _ProgressSink(EventSink):
    """Shows a budget bar and one line per proposal on a rich console."""

    def __init__(self, console: Console, progress: Progress) -> None:
        self.console = console
        self.progress = progress
        self.task: TaskID = progress.add_task("optimizing", total=None, best="-")

    def budget_update(self, used: int, limit: int, cache_hits: int) -> None:
        self.progress.update(self.task, completed=used, total=limit)

    def new_best(self, index: int, score: float) -> None:
        self.progress.update(self.task, best=f"{score:.2f} (#{index})")

    def proposal_finished(self, proposal: Proposal) -> None:
        mark = {"accepted": "[green]accepted[/]", "rejected": "[yellow]rejected[/]"}
        decision = mark.get(proposal.decision, f"[red]{proposal.decision}[/]")
        self.console.print(
            f"  proposal {proposal.index} ({proposal.kind}) at {proposal.metric_calls_at} "
            f"calls: {decision}: {proposal.reason}",
            highlight=False,
        )


def _default_run_dir() -> Path:
    return Path("runs") / f"demo-{datetime.now():%Y%m%d-%H%M%S}"


def _usage_dict(ledger: UsageLedger) -> dict[str, Any]:
    return {role: ledger.usage(role).to_dict() for role in ledger.roles()}


def run_demo(
    *,
    budget: int = DEFAULT_BUDGET,
    workers: int = DEFAULT_WORKERS,
    task_model: str = "local/qwen2.5-coder-0.5b",
    reflection_model: str = "local/qwen2.5-coder-1.5b",
    run_dir: str | Path | None = None,
    seed: int = 0,
    n_train: int = 30,
    n_val: int = 30,
    n_test: int = 150,
    console: Console | None = None,
    show: bool = True,
) -> DemoResult:
    """Optimize `SEED_PROMPT` for SNIPS intent classification and report test accuracy.

    Args:
        budget: metric calls (task-model rollouts) the optimizer may spend.
        workers: rollouts running at once.
        task_model: model that classifies, any spec `gepakit.lm.resolve_lm` accepts.
        reflection_model: model that rewrites the prompt.
        run_dir: where the run is saved; default ``runs/demo-<timestamp>``.
        seed: seed of the data split and of the optimizer.
        n_train, n_val, n_test: split sizes (see `gepakit.data.load_intent_dataset`).
        console: a `rich.console.Console`; default a new one on stdout.
        show: print progress and the final comparison.

    Returns:
        A `DemoResult` with both prompts, their test accuracy, calls and usage.

    Raises:
        ConfigError: invalid budget, workers or split sizes.
        MissingExtraError: a local model is requested but its extra is not installed.
    """
    if budget < n_val:
        raise ConfigError(f"budget {budget} cannot even score the seed on {n_val} val examples")
    started = time.perf_counter()
    console = console if console is not None else Console(quiet=not show)
    out_dir = Path(run_dir) if run_dir is not None else _default_run_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    train, val, test = load_intent_dataset(seed, n_train, n_val, n_test)
    ledger = UsageLedger()
    task_lm = resolve_lm(task_model, role="task", ledger=ledger)
    reflection_lm = resolve_lm(
        reflection_model, role="reflection", ledger=ledger, **REFLECTION_PARAMS
    )
    program = PromptProgram(
        task_lm,
        user_template="{text}",
        labels=INTENT_LABELS,
        max_tokens=TASK_MAX_TOKENS,
    )
    console.print(
        f"[bold]gepakit demo[/]: SNIPS intent classification, task model {task_model}, "
        f"reflection model {reflection_model}, budget {budget} metric calls, "
        f"{len(train)} train / {len(val)} val / {len(test)} test examples."
    )
    result, optimize_seconds = _optimize(
        program, reflection_lm, (train, val), budget, workers, out_dir, seed, console
    )
    optimized = result.best_candidate[program.component]
    console.print(f"Scoring both prompts on {len(test)} held-out test examples ...")
    test_program = PromptProgram(
        resolve_lm(task_model, role="test", ledger=ledger),
        labels=INTENT_LABELS,
        max_tokens=TASK_MAX_TOKENS,
    )
    seed_acc = evaluate_prompt(test_program, SEED_PROMPT, test, workers=workers)
    best_acc = evaluate_prompt(test_program, optimized, test, workers=workers)
    demo = DemoResult(
        seed_prompt=SEED_PROMPT,
        optimized_prompt=optimized,
        seed_test_accuracy=seed_acc,
        optimized_test_accuracy=best_acc,
        seed_val_score=result.val_aggregate_scores[0],
        optimized_val_score=result.best_score,
        metric_calls=result.total_metric_calls,
        budget=budget,
        num_candidates=result.num_candidates,
        usage=_usage_dict(ledger),
        run_dir=out_dir,
        optimize_seconds=optimize_seconds,
        total_seconds=time.perf_counter() - started,
        stop_reason=result.stop_reason,
    )
    result.to_json(out_dir / "result.json")
    (out_dir / "demo.json").write_text(json.dumps(demo.to_dict(), indent=2), encoding="utf-8")
    if show:
        print_demo_result(demo, console)
    return demo


def _optimize(
    program: PromptProgram,
    reflection_lm: LM,
    data: tuple[list[dict[str, str]], list[dict[str, str]]],
    budget: int,
    workers: int,
    out_dir: Path,
    seed: int,
    console: Console,
) -> tuple[Result, float]:
    """Run `gepakit.optimize` with a progress display; returns the result and wall time."""
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("metric calls, best val {task.fields[best]}"),
        TimeElapsedColumn(),
    )
    started = time.perf_counter()
    with Progress(*columns, console=console, transient=False) as progress:
        result = optimize(
            {program.component: SEED_PROMPT},
            data[0],
            data[1],
            evaluator=program,
            reflection_lm=reflection_lm,
            max_metric_calls=budget,
            workers=workers,
            run_dir=out_dir,
            seed=seed,
            timeout=OPTIMIZE_SECONDS,
            callbacks=[_ProgressSink(console, progress)],
            progress=False,
            quiet=True,  # the demo prints its own line per proposal; no log line twice
        )
    return result, time.perf_counter() - started


def _usage_line(role: str, usage: Mapping[str, Any]) -> str:
    return (
        f"{role}: {usage.get('calls', 0)} calls, {usage.get('prompt_tokens', 0)} prompt + "
        f"{usage.get('completion_tokens', 0)} completion tokens"
    )


def print_demo_result(demo: DemoResult, console: Console) -> None:
    """Print the seed and optimized prompts side by side, with accuracy, calls and usage."""
    table = Table(title="Seed vs optimized prompt", show_lines=True, expand=True)
    table.add_column("", style="bold", no_wrap=True)
    table.add_column("seed prompt", ratio=1)
    table.add_column("optimized prompt", ratio=2)
    table.add_row("prompt", Text(demo.seed_prompt), Text(demo.optimized_prompt))
    table.add_row(
        "test accuracy",
        f"{demo.seed_test_accuracy:.1%}",
        f"[bold green]{demo.optimized_test_accuracy:.1%}[/]",
    )
    table.add_row("val score", f"{demo.seed_val_score:.1%}", f"{demo.optimized_val_score:.1%}")
    console.print(table)
    console.print(
        f"Metric calls used: {demo.metric_calls} of {demo.budget}; "
        f"{demo.num_candidates} candidates; optimize {demo.optimize_seconds:.0f}s, "
        f"total {demo.total_seconds:.0f}s."
        + (f" Stopped: {demo.stop_reason}." if demo.stop_reason else ""),
        highlight=False,
    )
    for role, usage in demo.usage.items():
        console.print("LM usage, " + _usage_line(role, usage), highlight=False)
    console.print(f"Run saved in {demo.run_dir}", highlight=False)
