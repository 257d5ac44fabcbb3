"""The `gepakit` command line: thin commands over the public API and the run store."""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from gepakit.cli.errors import FLAGS, handle_errors

EPILOG = (
    "Exit codes: 0 ok, 1 unexpected error, 2 invalid config or options, 3 resume "
    "mismatch, 4 run store, 5 run in use, 6 evaluator, 7 LM, 8 file, 9 missing extra, "
    "10 nothing found (every proposal failed), 130 interrupted."
)

app = typer.Typer(
    name="gepakit",
    help="Optimize the text of LLM systems with GEPA.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from gepakit import __version__

        typer.echo(f"gepakit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Optimize the text of LLM systems with GEPA."""
    FLAGS.debug = debug


# Each module defines `register(app)`; one line per command module keeps merges simple.
COMMAND_MODULES = [
    "gepakit.cli.demo",
    "gepakit.cli.report",
    "gepakit.cli.run",
    "gepakit.cli.status",
    "gepakit.cli.export",
    "gepakit.cli.resume",
    "gepakit.cli.watch",
]


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    # Every command follows the error contract of `gepakit.cli.errors`.
    for info in app.registered_commands:
        if info.callback is not None:
            info.callback = handle_errors(info.callback)


_register_all()


def main() -> None:
    """Entry point of the `gepakit` script."""
    app()


if __name__ == "__main__":
    main()
