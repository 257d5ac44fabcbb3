"""The run report: one self-contained HTML page about a run.

`write_report(run_dir_or_result, "report.html")` writes it; `build_report_data` computes
the plain data behind it (tested without a browser); `render_html` renders that data.
`gepakit watch RUN_DIR` rewrites the page while a run goes on (the live view).
"""

from __future__ import annotations

from pathlib import Path

from gepakit.report.data import ReportData, build_report_data, load_result
from gepakit.report.details import RunDetails, load_details
from gepakit.report.html import render_html, write_html
from gepakit.result import Result

__all__ = [
    "ReportData",
    "RunDetails",
    "build_report_data",
    "load_details",
    "load_result",
    "render_html",
    "write_report",
]


def write_report(
    source: Result | str | Path,
    path: str | Path,
    *,
    title: str | None = None,
    refresh: float | None = None,
) -> Path:
    """Write the HTML report of a run to `path`.

    Args:
        source: a `Result`, a run directory, or a result JSON file. A run directory
            (or a Result whose `run_dir` still holds its store) also gives the
            per-example view and the timeline.
        path: where to write the page (parent directories are created).
        title: page title; default names the run directory.
        refresh: make the page reload itself every this many seconds (live view).

    Returns:
        The path written.

    Raises:
        ConfigError: `source` holds no readable result, the result has no candidates,
            or `path` is a directory.
    """
    result = load_result(source)
    run_dir = source if isinstance(source, (str, Path)) and Path(source).is_dir() else None
    run_dir = run_dir or result.run_dir
    details = load_details(run_dir, result) if run_dir else None
    data = build_report_data(result, title=title, details=details)
    return write_html(data, path, refresh=refresh)
