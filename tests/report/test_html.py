"""The rendered page: self-contained, escaped, with every section."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from typer.testing import CliRunner

from gepakit import Result
from gepakit.cli.main import app
from gepakit.report import build_report_data, render_html, write_report
from gepakit.report.html import CSP, FILTER_SCRIPT

from .conftest import XSS


def test_page_has_every_section_and_chart(merge_result: Result) -> None:
    page = render_html(build_report_data(merge_result))
    sections = ("summary", "seed-diff", "score", "lineage", "frontier", "examples")
    for section in (*sections, "candidates", "proposals", "usage"):
        assert f"id='{section}'" in page
    for chart in ("score-chart", "lineage-chart", "heatmap"):
        assert re.search(f'<svg class="chart[^"]*" id="{chart}"', page)
    assert page.count('class="edge edge-merge"') == 2
    assert "<ins> one</ins>" in page


def test_page_is_self_contained_and_runs_only_its_own_script(run_result: Result) -> None:
    page = render_html(build_report_data(run_result))
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page, flags=re.S | re.I)
    assert scripts == [FILTER_SCRIPT]
    assert not re.search(r"<img[^>]*onerror", page)
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page)
    digest = base64.b64encode(hashlib.sha256(FILTER_SCRIPT.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in CSP and "unsafe-inline'; script" not in CSP
    assert f'content="{CSP}"' in page


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


def test_evaluator_errors_are_shown(merge_result: Result) -> None:
    import dataclasses

    failing = dataclasses.replace(merge_result, evaluator_errors=3)
    page = render_html(build_report_data(failing))
    assert '<div class="v">3</div><div class="k">evaluator errors</div>' in page
    assert "evaluator errors" not in render_html(build_report_data(merge_result))
