"""The `gepakit run` command: an optimization described by a TOML config file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gepakit.config import FIELDS

_EXAMPLE = """\
seed_candidate = { system_prompt = "Classify the intent of the utterance." }
train = "intent_train.jsonl"
val = "intent_val.jsonl"
reflection_lm = "local/qwen2.5-coder-1.5b"
max_metric_calls = 200
workers = 4
run_dir = "runs/intent"

[program]
task_lm = "local/qwen2.5-coder-0.5b"
labels = ["add_to_playlist", "book_restaurant", "get_weather"]"""


def _help() -> str:
    fields = "\n".join(f"  {name}: {text}" for name, text in FIELDS.items())
    from rich.markup import escape  # typer renders help as rich markup

    return escape(
        "Run an optimization described by a TOML config file.\n\n"
        "Paths are relative to the config file; module:function references are imported "
        "with the config file's directory on sys.path. The result is saved to "
        "run_dir/result.json and the HTML report to `report`.\n\n"
        f"\b\nFields:\n{fields}\n\n\b\nExample:\n{_EXAMPLE}"
    )


def run(
    config: Annotated[Path, typer.Argument(help="The run's TOML config file.")],
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress", help="Live progress \\[default: on a terminal only]."
        ),
    ] = None,
) -> None:
    """Run an optimization described by a TOML config file."""
    from gepakit.config import load_config, run_from_config
    from gepakit.errors import ConfigError

    try:
        cfg = load_config(config)
        result = run_from_config(cfg, progress=progress)
    except ConfigError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(
        f"Best val score {result.best_score:.4f} (candidate {result.best_idx} of "
        f"{result.num_candidates}) after {result.total_metric_calls} metric calls."
    )
    if cfg.run_dir is not None:
        typer.echo(f"Run saved in {cfg.run_dir}")
    if cfg.report is not None:
        typer.echo(f"Report written to {cfg.report}")


def run_config(cli_config: dict[str, str], run_dir: Path) -> None:
    """Resume `run_dir` from the config file it was started with (used by `gepakit resume`)."""
    from gepakit.config import load_config, run_from_config
    from gepakit.errors import ConfigError

    try:
        cfg = load_config(cli_config["path"])
    except ConfigError as error:
        typer.echo(f"error: cannot reload the run's config: {error}", err=True)
        raise typer.Exit(code=2) from None
    if cfg.run_dir is None or cfg.run_dir.resolve() != Path(run_dir).resolve():
        typer.echo(
            f"error: {cli_config['path']} now points at run_dir {cfg.run_dir}, not {run_dir}",
            err=True,
        )
        raise typer.Exit(code=2)
    result = run_from_config(cfg)
    typer.echo(
        f"Resumed: best val score {result.best_score:.4f} after "
        f"{result.total_metric_calls} metric calls."
    )


def register(app: typer.Typer) -> None:
    """Add the `run` command to `app`."""
    app.command("run", help=_help())(run)
