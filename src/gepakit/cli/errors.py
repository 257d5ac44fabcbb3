"""The CLI's error contract: every known error is one line on stderr and a distinct exit code.

`gepakit --debug COMMAND ...` (or ``GEPAKIT_DEBUG=1``) shows the traceback instead.
The exit codes are part of the interface (scripts branch on them):

====  =====================================================================
code  meaning
====  =====================================================================
0     success
1     unexpected error (a bug in gepakit or in your code; rerun with --debug)
2     invalid config, option or command line (ConfigError, usage errors)
3     the run in run_dir was started with different settings (ResumeMismatchError)
4     the run store cannot be read or written, or holds no run (StoreError)
5     another process has the run open (RunInUseError)
6     the evaluator failed (EvaluatorError)
7     an LM call failed for good (LMError)
8     a file cannot be read or written (missing, a directory, not UTF-8, disk full)
9     an optional dependency is missing (MissingExtraError; the message names the extra)
10    the run finished but found nothing: every proposal failed
130   interrupted (Ctrl-C); the run is saved, resume it with the command shown
====  =====================================================================
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import typer

from gepakit.errors import (
    ConfigError,
    EvaluatorError,
    LMError,
    MissingExtraError,
    ResumeMismatchError,
    RunInUseError,
    StoreError,
)
from gepakit.textsafe import for_terminal

__all__ = [
    "EXIT_CODES",
    "FLAGS",
    "Interrupted",
    "NothingFound",
    "exit_code_of",
    "fail",
    "handle_errors",
]

F = TypeVar("F", bound=Callable[..., Any])

OK = 0
UNEXPECTED = 1
CONFIG = 2
RESUME_MISMATCH = 3
STORE = 4
RUN_IN_USE = 5
EVALUATOR = 6
LM = 7
FILE = 8
MISSING_EXTRA = 9
NOTHING_FOUND = 10
INTERRUPTED = 130


# typer's own control-flow exceptions pass through (their names vary across versions).
_TYPER_EXITS: tuple[type[BaseException], ...] = tuple(
    getattr(typer, name) for name in ("Exit", "Abort", "TyperException") if hasattr(typer, name)
)


class NothingFound(Exception):
    """The run ended without a usable result because every proposal failed."""


class Interrupted(Exception):
    """The run was stopped by Ctrl-C or SIGTERM; the message says how to resume."""


# Most specific first: RunInUseError is a StoreError, ResumeMismatchError a ConfigError,
# MissingExtraError an ImportError, UnicodeError a ValueError.
EXIT_CODES: tuple[tuple[type[BaseException], int, str], ...] = (
    (Interrupted, INTERRUPTED, "interrupted"),
    (KeyboardInterrupt, INTERRUPTED, "interrupted"),
    (NothingFound, NOTHING_FOUND, "nothing found"),
    (MissingExtraError, MISSING_EXTRA, "missing extra"),
    (RunInUseError, RUN_IN_USE, "run in use"),
    (StoreError, STORE, "run store"),
    (ResumeMismatchError, RESUME_MISMATCH, "resume mismatch"),
    (ConfigError, CONFIG, "config"),
    (EvaluatorError, EVALUATOR, "evaluator"),
    (LMError, LM, "LM"),
    (UnicodeError, FILE, "file"),
    (OSError, FILE, "file"),
)


def exit_code_of(error: BaseException) -> int:
    """The exit code for `error` (1 for an unexpected one)."""
    for kind, code, _ in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return UNEXPECTED


class _Flags:
    debug = False  # set by `gepakit --debug` for this invocation


FLAGS = _Flags()


def debug_enabled() -> bool:
    """Whether tracebacks are wanted (``--debug`` or ``GEPAKIT_DEBUG=1``)."""
    env = os.environ.get("GEPAKIT_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
    return FLAGS.debug or env


def _message(error: BaseException) -> str:
    code = exit_code_of(error)
    if isinstance(error, UnicodeDecodeError):
        text = (
            f"a file is not valid UTF-8 text ({error.reason} at byte {error.start}); "
            "save it as UTF-8"
        )
    elif isinstance(error, OSError) and error.filename is not None:
        text = f"{error.strerror or error}: {error.filename}"
    elif isinstance(error, KeyboardInterrupt):
        text = "interrupted"
    else:
        text = str(error) or type(error).__name__
    if code == UNEXPECTED:
        text = (
            f"unexpected {type(error).__name__}: {text} (rerun with `gepakit --debug ...` "
            "for the traceback, and report it if it is gepakit's fault)"
        )
    # ResumeMismatchError lists the differences one per line; everything else is one line.
    return for_terminal(text, one_line=code not in (RESUME_MISMATCH, INTERRUPTED))


def fail(error: BaseException) -> NoReturn:
    """Print `error` as one line on stderr and exit with its code."""
    typer.echo(f"error: {_message(error)}", err=True)
    raise typer.Exit(exit_code_of(error)) from None


def handle_errors(command: F) -> F:
    """Wrap a command so that errors follow the contract above."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except _TYPER_EXITS:
            raise
        except (Exception, KeyboardInterrupt) as error:
            if debug_enabled():
                raise
            fail(error)

    return wrapper  # type: ignore[return-value]
