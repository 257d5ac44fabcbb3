"""The `gepakit` command line: thin commands over the public API and the run store."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="gepakit",
    help="Optimize the text of LLM systems with GEPA.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Optimize the text of LLM systems with GEPA."""


# Each module defines `register(app)`; one line per command module keeps merges simple.
COMMAND_MODULES = [
    "gepakit.cli.demo",
    "gepakit.cli.report",
    "gepakit.cli.run",
    "gepakit.cli.status",
    "gepakit.cli.export",
    "gepakit.cli.resume",
]


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register_all()


def main() -> None:
    """Entry point of the `gepakit` script."""
    app()


if __name__ == "__main__":
    main()
