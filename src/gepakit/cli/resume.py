"""`gepakit resume RUN_DIR`: continue a stopped or crashed run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

PYTHON_HINT = """\
This run was started from Python; its evaluator and reflection LM are Python objects
that cannot be rebuilt from the run directory. Resume it by calling optimize again with
the same arguments and the same run_dir (a larger max_metric_calls extends it):

    gepakit.optimize(seed_candidate, trainset, valset, evaluator=..., reflection_lm=...,
                     max_metric_calls=..., run_dir={run_dir!r})
"""


def resume(
    run_dir: Annotated[Path, typer.Argument(help="The run directory.")],
) -> None:
    """Resume a run started with `gepakit run CONFIG` (others: prints how to resume)."""
    from gepakit.store.sqlite import SQLiteStore

    with SQLiteStore(run_dir, readonly=True) as store:
        cli_config: Any = store.meta().get("cli_config")
    if cli_config is None:
        typer.echo(PYTHON_HINT.format(run_dir=str(run_dir)))
        raise typer.Exit(2)
    runner = _config_runner()
    if runner is None:
        typer.echo("error: this gepakit has no `gepakit run` command to resume with", err=True)
        raise typer.Exit(1)
    runner(cli_config, run_dir)


def _config_runner() -> Any:
    """`gepakit.cli.run.run_config(config, run_dir)`, if the run command is installed."""
    try:
        from gepakit.cli import run as run_module  # type: ignore[attr-defined]
    except ImportError:
        return None
    return getattr(run_module, "run_config", None)


def register(app: typer.Typer) -> None:
    """Add the `resume` command to `app`."""
    app.command("resume")(resume)
