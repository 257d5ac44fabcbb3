"""`gepakit status RUN_DIR`: budget used, candidates, best score and the last events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def status(
    run_dir: Annotated[Path, typer.Argument(help="The run directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    events: Annotated[int, typer.Option(help="How many recent events to show.")] = 8,
) -> None:
    """Show the progress of a run (works while it is running)."""
    from gepakit.errors import StoreError
    from gepakit.runs import run_status

    try:
        info = run_status(run_dir, last_events=events)
    except StoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    best = info["best_score"]
    typer.echo(f"run:         {info['run_dir']}")
    typer.echo(
        f"budget:      {info['metric_calls_used']} / {info['max_metric_calls']} metric calls"
    )
    typer.echo(f"candidates:  {info['num_candidates']}")
    typer.echo(f"proposals:   {info['num_proposals']} ({info['accepted']} accepted)")
    typer.echo(
        f"best:        candidate {info['best_idx']}, val score {best:.4g}"
        if best is not None
        else "best:        (seed not evaluated yet)"
    )
    typer.echo(f"state:       {info['stop_reason']}")
    for ev in info["last_events"]:
        typer.echo(f"  {ev['kind']:<16} {json.dumps(ev['data'], default=str)[:100]}")


def register(app: typer.Typer) -> None:
    """Add the `status` command to `app`."""
    app.command("status")(status)
