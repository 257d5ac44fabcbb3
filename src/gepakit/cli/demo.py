"""The `gepakit demo` command: a 10-minute offline optimization with local models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gepakit.demo import DEFAULT_BUDGET, DEFAULT_WORKERS


def demo(
    budget: Annotated[
        int, typer.Option(help="Metric calls (task-model rollouts) the optimizer may spend.")
    ] = DEFAULT_BUDGET,
    workers: Annotated[int, typer.Option(help="Rollouts running at once.")] = DEFAULT_WORKERS,
    run_dir: Annotated[
        Path | None, typer.Option(help="Where to save the run \\[default: runs/demo-<time>].")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the data split and the optimizer.")] = 0,
) -> None:
    """Optimize an intent-classification prompt offline with two small local models.

    A 0.5B model classifies SNIPS utterances, a 1.5B model rewrites the prompt; the
    seed and optimized prompts are compared on held-out test examples.
    """
    from gepakit.demo import run_demo  # imported late: keeps `gepakit --help` fast

    run_demo(budget=budget, workers=workers, run_dir=run_dir, seed=seed)


def register(app: typer.Typer) -> None:
    """Add the `demo` command to `app`."""
    app.command("demo")(demo)
