"""The run report: one self-contained static HTML page about a run.

`write_report(run_dir_or_result, "report.html")` writes it; `build_report_data` computes
the plain data behind it (tested without a browser); `render_html` renders that data.
"""

from __future__ import annotations

from pathlib import Path

from gepakit.report.data import ReportData, build_report_data, load_result
from gepakit.report.html import render_html, write_html
from gepakit.result import Result

__all__ = ["ReportData", "build_report_data", "load_result", "render_html", "write_report"]


def write_report(
    source: Result | str | Path, path: str | Path, *, title: str | None = None
) -> Path:
    """Write the HTML report of a run to `path`.

    Args:
        source: a `Result`, a run directory, or a result JSON file.
        path: where to write the page (parent directories are created).
        title: page title; default names the run directory.

    Returns:
        The path written.

    Raises:
        ConfigError: `source` holds no readable result, or the result has no candidates.
    """
    data = build_report_data(load_result(source), title=title)
    return write_html(data, path)
