"""The rendered page: self-contained, escaped, with every section."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from gepakit import Result
from gepakit.cli.main import app
from gepakit.report import build_report_data, render_html, write_report

from .conftest import XSS


def test_page_has_every_section_and_chart(merge_result: Result) -> None:
    page = render_html(build_report_data(merge_result))
    for section in ("summary", "score", "lineage", "frontier", "candidates", "proposals", "usage"):
        assert f"id='{section}'" in page
    for chart in ("score-chart", "lineage-chart", "heatmap"):
        assert f'<svg class="chart" id="{chart}"' in page
    assert page.count('class="edge edge-merge"') == 2
    assert "<ins> one</ins>" in page


def test_page_is_self_contained_and_script_free(run_result: Result) -> None:
    page = render_html(build_report_data(run_result))
    assert "<script" not in page.lower()
    assert not re.search(r"<img[^>]*onerror", page)
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page)
    assert "Content-Security-Policy" in page


def test_run_text_is_escaped(merge_result: Result) -> None:
    page = render_html(build_report_data(merge_result, title="<b>title</b>"))
    assert XSS not in page
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page
    assert "&lt;b&gt;title&lt;/b&gt;" in page


def test_write_report_from_run_dir(merge_result: Result, tmp_path: Path) -> None:
    merge_result.to_json(tmp_path / "result.json")
    out = write_report(tmp_path, tmp_path / "sub" / "report.html")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_cli_report(merge_result: Result, tmp_path: Path) -> None:
    merge_result.to_json(tmp_path / "result.json")
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", str(tmp_path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and str(out) in result.output


def test_cli_report_missing_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "neither a run directory" in result.output
