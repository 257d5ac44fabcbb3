"""`gepakit watch RUN_DIR`: follow a run from another terminal, with a live HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def watch(
    run_dir: Annotated[Path, typer.Argument(help="The run directory to follow.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="The live HTML page (default: RUN_DIR/live.html)."),
    ] = None,
    interval: Annotated[float, typer.Option(help="Seconds between updates.", min=0.2)] = 2.0,
    once: Annotated[bool, typer.Option(help="Update once and exit.")] = False,
    timeout: Annotated[
        float | None, typer.Option(help="Stop watching after this many seconds.")
    ] = None,
) -> None:
    """Follow a run while it goes: a status line per change and a live report page.

    Open the page in a browser: it reloads itself while the run goes on and shows the
    final report when it ends. Watching never blocks or slows the run (the store is
    read, not locked). Exits 0 when the run finished, 1 when it failed, 130 when it was
    interrupted (resume it), 4 when no run started before --timeout.
    """
    from gepakit.report.live import watch_run  # imported late: keeps `gepakit --help` fast

    page = output if output is not None else run_dir / "live.html"
    typer.echo(f"watching {run_dir}; live page: {page}", err=True)
    try:
        state = watch_run(run_dir, page, interval=interval, once=once, timeout=timeout)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if state == "failed":
        typer.echo(f"the run failed; see: gepakit status {run_dir}", err=True)
        raise typer.Exit(1)
    if state == "interrupted":
        typer.echo(
            f"the run stopped before it finished; resume it: gepakit resume {run_dir}", err=True
        )
        raise typer.Exit(130)
    if state == "waiting":
        typer.echo(f"error: no run has started in {run_dir}", err=True)
        raise typer.Exit(4)


def register(app: typer.Typer) -> None:
    """Add the `watch` command to `app`."""
    app.command("watch")(watch)
