"""The `gepakit run` command: an optimization described by a TOML config file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Start over: move a run already in run_dir aside (to <run_dir>.old-<time>) "
            "instead of resuming it.",
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress display and no log lines.")
    ] = False,
) -> None:
    """Run an optimization described by a TOML config file."""
    import dataclasses

    from gepakit.config import load_config

    cfg = load_config(config)
    if quiet:
        cfg = dataclasses.replace(cfg, options={**cfg.options, "quiet": True})
    _check_outputs(cfg)
    if fresh and cfg.run_dir is not None:
        from gepakit.run_state import start_fresh

        moved = start_fresh(cfg.run_dir)
        if moved is not None:
            typer.echo(f"Starting over: the previous run was moved to {moved}", err=True)
    _run_and_report(cfg, progress=progress, resumed=False)


def _check_outputs(cfg: Any) -> None:
    """Fail before any LM call when an output path cannot be written."""
    from gepakit.errors import ConfigError

    for key, path in (("run_dir", cfg.run_dir), ("report", cfg.report)):
        if path is None:
            continue
        if key == "report" and path.is_dir():
            raise ConfigError(f"{cfg.source}: field 'report': {path} is a directory; give a file")
        if key == "run_dir" and path.exists() and not path.is_dir():
            raise ConfigError(f"{cfg.source}: field 'run_dir': {path} is a file, not a directory")


def _run_and_report(cfg: Any, *, progress: bool | None, resumed: bool) -> None:
    """Run `cfg`, print what was found and why it stopped; exit codes per cli.errors."""
    from gepakit.cli.errors import Interrupted, NothingFound
    from gepakit.config import run_from_config

    # (optimize warns when a finished run is re-run and its stored result comes back)
    try:
        result = run_from_config(cfg, progress=progress)
    except KeyboardInterrupt:
        raise Interrupted(_resume_hint(cfg, "interrupted")) from None
    _print_summary(result, cfg, resumed=resumed)
    if result.stop_reason == "stopped on request":
        raise Interrupted(_resume_hint(cfg, "stopped on request"))
    failed = [p for p in result.proposals if p.decision == "failed"]
    if result.num_candidates <= 1 and result.proposals and len(failed) == len(result.proposals):
        raise NothingFound(
            f"nothing found: all {len(failed)} proposals failed (last: "
            f"{failed[-1].reason}); check the reflection LM's settings "
            "(model name, api_base, reflection_params) and that it is reachable"
        )


def _resume_hint(cfg: Any, what: str) -> str:
    if cfg.run_dir is None:
        return f"{what}; nothing was saved (set run_dir in the config to make runs resumable)"
    return (
        f"{what}; the run is saved in {cfg.run_dir}. Resume it with: "
        f"gepakit resume {cfg.run_dir}  (or run the same config again)"
    )


def _print_summary(result: Any, cfg: Any, *, resumed: bool) -> None:
    from gepakit.textsafe import for_terminal

    if not result.candidates:
        typer.echo(f"No candidate was evaluated. Stopped: {for_terminal(result.stop_reason)}")
        return
    seed = result.val_aggregate_scores[0]
    typer.echo(
        f"{'Resumed: b' if resumed else 'B'}est val score {result.best_score:.4f} "
        f"(candidate {result.best_idx} of {result.num_candidates}; seed {seed:.4f}) "
        f"after {result.total_metric_calls} metric calls."
    )
    typer.echo(f"Stopped: {for_terminal(result.stop_reason or '-', one_line=True)}")
    label = "Optimized" if result.best_idx != 0 else "Best (the seed; no better text found)"
    for name, text in result.best_candidate.items():
        typer.echo(f"\n{label} {name}:")
        for line in for_terminal(text).splitlines() or [""]:
            typer.echo(f"    {line}")
    typer.echo("")
    if cfg.run_dir is not None:
        typer.echo(f"Run saved in {cfg.run_dir}")
    if cfg.report is not None:
        typer.echo(f"Report written to {cfg.report}")


def run_config(cli_config: dict[str, str], run_dir: Path) -> None:
    """Resume `run_dir` from the config file it was started with (used by `gepakit resume`)."""
    from gepakit.config import load_config
    from gepakit.errors import ConfigError

    try:
        cfg = load_config(cli_config["path"])
    except ConfigError as error:
        raise ConfigError(f"cannot reload the run's config: {error}") from None
    if cfg.run_dir is None or cfg.run_dir.resolve() != Path(run_dir).resolve():
        raise ConfigError(
            f"{cli_config['path']} now points at run_dir {cfg.run_dir}, not {run_dir}"
        )
    _check_outputs(cfg)
    _run_and_report(cfg, progress=None, resumed=True)


def register(app: typer.Typer) -> None:
    """Add the `run` command to `app`."""
    app.command("run", help=_help())(run)
