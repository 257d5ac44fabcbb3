"""The report in headless Chromium: charts render, no script from the run data runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gepakit import Result
from gepakit.report import write_report

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TITLE = "gepakit report under test"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


CHROMIUM = _chromium()

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Chromium is not installed (Debian: apt-get install -y chromium)",
    ),
]


def _chromium_run(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=2000",
    ]
    return subprocess.run(
        [CHROMIUM, *flags, *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from .conftest import make_run_result

    out = tmp_path_factory.mktemp("browser") / "report.html"
    return write_report(make_run_result(), out, title=TITLE)


@pytest.fixture(scope="module")
def dom(page: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return _chromium_run(page, tmp_path_factory.mktemp("profile"), "--dump-dom").stdout


def test_charts_rendered(dom: str) -> None:
    assert dom.count("<svg") >= 3
    for chart in ("score-chart", "lineage-chart", "heatmap"):
        assert f'id="{chart}"' in dom
    assert "<circle" in dom and "<path" in dom and "<rect" in dom


def test_no_script_from_the_data_ran(dom: str) -> None:
    assert f"<title>{TITLE}</title>" in dom
    assert "pwned</title>" not in dom.split("</head>")[0]
    assert dom.count("<script") == 1  # gepakit's own filter script, allowed by its hash
    assert "<img" not in dom
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
    assert "&lt;img src=x onerror=" in dom


def test_merge_report_renders(merge_result: Result, tmp_path: Path) -> None:
    out = write_report(merge_result, tmp_path / "merge.html")
    dom = _chromium_run(out, tmp_path / "profile", "--dump-dom").stdout
    assert dom.count('class="edge edge-merge"') == 2


def test_screenshot(page: Path, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    _chromium_run(page, tmp_path / "profile", "--window-size=1280,2400", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000
