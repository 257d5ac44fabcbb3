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
    """Show the progress of a run (works while it is running).

    The state line says whether the run is running, finished (and why it stopped),
    failed (and the error) or was interrupted (killed or crashed).
    """
    from gepakit.run_state import run_state
    from gepakit.runs import run_status
    from gepakit.textsafe import for_terminal
    from gepakit.types import to_jsonable

    info = run_status(run_dir, last_events=events)
    state = run_state(run_dir)
    info["state"] = state.kind
    info["state_detail"] = state.detail
    if as_json:
        typer.echo(json.dumps(to_jsonable(info), indent=2, allow_nan=False, ensure_ascii=False))
        return
    best = info["best_score"]
    typer.echo(f"run:         {for_terminal(info['run_dir'], one_line=True)}")
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
    typer.echo(f"state:       {for_terminal(state.describe(), one_line=True)}")
    for ev in info["last_events"]:
        data = for_terminal(json.dumps(to_jsonable(ev["data"]), ensure_ascii=False), one_line=True)
        typer.echo(f"  {for_terminal(ev['kind'], one_line=True):<16} {data[:100]}")


def register(app: typer.Typer) -> None:
    """Add the `status` command to `app`."""
    app.command("status")(status)
