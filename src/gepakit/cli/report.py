"""The `gepakit report` command: write the static HTML report of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    run: Annotated[
        Path, typer.Argument(help="A run directory, or a result JSON file (Result.to_json).")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the HTML page.")
    ] = Path("report.html"),
    title: Annotated[str | None, typer.Option(help="Page title \\[default: the run].")] = None,
) -> None:
    """Write a self-contained HTML report of a run (one file, works offline).

    The page shows the seed-to-best diff, the best val score against metric calls and
    wall time (with LM cost), the lineage, the Pareto frontier with a per-example
    heatmap, each val example's seed and best outputs and feedback side by side, text
    diffs between each candidate and its parent, every reflection prompt and reply (all
    searchable and filterable), and LM usage and cost. `gepakit watch` keeps a live
    copy of it while a run goes on.
    """
    from gepakit.errors import ConfigError
    from gepakit.report import write_report  # imported late: keeps `gepakit --help` fast

    try:
        path = write_report(run, output, title=title)
    except ConfigError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"Report written to {path}")


def register(app: typer.Typer) -> None:
    """Add the `report` command to `app`."""
    app.command("report")(report)
