"""MkDocs hook: fill the reference pages from the code, so they never drift from it.

Markers in the Markdown sources and what replaces them:

- ``<!-- gen:options -->``: every option of `gepakit.optimize`, from the one options table.
- ``<!-- gen:toml -->``: the top-level keys of a `gepakit run` TOML file (`gepakit.config.FIELDS`).
- ``<!-- gen:cli -->``: every CLI command with its help text and options (from the Typer app).
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(value: Any) -> str:
    from gepakit.options import REQUIRED

    if value is REQUIRED:
        return "required"
    return f"`{_cell(repr(value))}`"


def options_markdown() -> str:
    """The options table, one section per group, from `gepakit.options.OPTIONS`."""
    from gepakit.options import GROUPS, OPTIONS

    parts: list[str] = []
    for group in GROUPS:
        rows = [o for o in OPTIONS.values() if o.group == group]
        if not rows:
            continue
        parts.append(f"### {group.capitalize()}\n")
        parts.append("| option | value | default | TOML | meaning |\n|---|---|---|---|---|")
        parts.extend(
            f"| `{o.name}` | {_cell(o.kind)} | {_default(o.default)} | "
            f"{'yes' if o.toml else '—'} | {_cell(o.doc)} |"
            for o in rows
        )
        parts.append("")
    return "\n".join(parts)


def toml_markdown() -> str:
    from gepakit.config import FIELDS

    rows = ["| key | meaning |", "|---|---|"]
    rows += [f"| `{key}` | {_cell(text)} |" for key, text in FIELDS.items()]
    return "\n".join(rows)


def _param_row(param: Any) -> str:
    opts = ", ".join(f"`{o}`" for o in (getattr(param, "opts", None) or [param.name]))
    default = getattr(param, "default", None)
    shown = "" if default in (None, False, ()) else f"`{_cell(default)}`"
    return f"| {opts} | {_cell(getattr(param, 'help', '') or '')} | {shown} |"


def cli_markdown() -> str:
    import typer.main

    from gepakit.cli.main import app

    group: Any = typer.main.get_command(app)
    parts: list[str] = []
    for name, command in group.commands.items():
        helptext = inspect.cleandoc(command.help or "")
        parts.append(f"### `gepakit {name}`\n\n{helptext}\n")
        params = [p for p in command.params if getattr(p, "opts", None) or p.name]
        if params:
            parts.append("| argument / option | help | default |\n|---|---|---|")
            parts.extend(_param_row(p) for p in params)
            parts.append("")
    return "\n".join(parts)


GENERATORS = {
    "<!-- gen:options -->": options_markdown,
    "<!-- gen:toml -->": toml_markdown,
    "<!-- gen:cli -->": cli_markdown,
}


def on_page_markdown(markdown: str, **_: Any) -> str:
    for marker, generate in GENERATORS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
    return markdown
