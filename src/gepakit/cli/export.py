"""`gepakit export RUN_DIR --format json|csv`: the run's records for other tools."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated

import typer


def export(
    run_dir: Annotated[Path, typer.Argument(help="The run directory.")],
    fmt: Annotated[
        str, typer.Option("--format", help="json: the full Result; csv: one row per rollout.")
    ] = "json",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write \\[default: stdout].")
    ] = None,
) -> None:
    """Export a run: the Result as JSON, or every stored rollout as CSV.

    CSV cells are safe to open in a spreadsheet: text starting like a formula
    (=, +, -, @) gets a leading apostrophe, escape sequences are removed.
    """
    from gepakit.errors import ConfigError

    if fmt not in ("json", "csv"):
        raise ConfigError(f"--format must be json or csv, got {fmt!r}")
    if output is not None and output.is_dir():
        raise ConfigError(f"--output {output} is a directory; give a file path")
    text = _json(run_dir) if fmt == "json" else _csv(run_dir)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


def _json(run_dir: Path) -> str:
    from gepakit.runs import load_run

    return load_run(run_dir).to_json() + "\n"


CSV_COLUMNS = (
    "candidate_index", "candidate_id", "example_id", "split", "score", "paid", "error",
    "feedback", "output", "objectives", "duration", "draw",
)  # fmt: skip
"""`draw` numbers the evaluations of one (candidate, example, split) (eval_repeats,
reuse_evaluations=False); it is 0 for a run with the defaults."""


def _csv(run_dir: Path) -> str:
    from gepakit.engine.draws import split_draw
    from gepakit.store.sqlite import SQLiteStore
    from gepakit.textsafe import for_csv

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    with SQLiteStore(run_dir, readonly=True) as store:
        index = {c.id: i for i, c, _, _ in store.candidates()}
        for paid, r in store.rollouts():
            example_id, draw = split_draw(r.example_id)
            writer.writerow(
                for_csv(cell)
                for cell in [
                    index.get(r.candidate_id, ""),
                    r.candidate_id,
                    example_id,
                    r.split,
                    r.score,
                    int(paid),
                    r.error or "",
                    r.feedback or "",
                    r.output if isinstance(r.output, str) else json.dumps(r.output),
                    json.dumps(dict(r.objectives)),
                    r.duration,
                    draw,
                ]
            )
    return buf.getvalue()


def register(app: typer.Typer) -> None:
    """Add the `export` command to `app`."""
    app.command("export")(export)
