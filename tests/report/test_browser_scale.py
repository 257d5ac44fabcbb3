"""The report at 500 candidates and the live view, driven in headless Chromium (Playwright)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gepakit import Result
from gepakit.report import write_report

from .test_live import _run

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"
    ),
]

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def large_page(large_result: Result, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(large_result, tmp_path_factory.mktemp("scale") / "report.html")


def _open(browser: Any, page: Path, width: int = 1280) -> tuple[Any, float]:
    tab = browser.new_page(viewport={"width": width, "height": 900})
    start = time.perf_counter()
    tab.goto(page.as_uri(), wait_until="load")
    return tab, time.perf_counter() - start


def _shown(tab: Any, selector: str) -> int:
    return tab.evaluate(f"document.querySelectorAll('{selector}:not([hidden])').length")


def test_500_candidates_fit_the_viewport_and_stay_small(browser: Any, large_page: Path) -> None:
    tab, seconds = _open(browser, large_page)
    nodes = tab.evaluate("document.getElementsByTagName('*').length")
    overflow = tab.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    lineage = tab.evaluate("document.getElementById('lineage-chart').getBoundingClientRect().width")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report-500.json").write_text(
        json.dumps(
            {"load_seconds": seconds, "dom_nodes": nodes, "bytes": large_page.stat().st_size}
        )
    )
    tab.screenshot(path=str(ARTIFACTS / "report-500.png"), full_page=False)
    tab.locator("#lineage").screenshot(path=str(ARTIFACTS / "report-500-lineage.png"))
    assert overflow <= 0, f"the page is {overflow}px wider than the viewport"
    assert lineage <= 1280
    assert nodes < 150_000
    assert tab.evaluate("document.documentElement.classList.contains('js')")
    tab.close()


def test_filters_search_and_sort_candidates_and_proposals(browser: Any, large_page: Path) -> None:
    tab, _ = _open(browser, large_page)
    assert _shown(tab, "#candidate-list > details") == 500
    tab.select_option("#candidates select[data-key=origin]", "merge")
    tab.wait_for_timeout(300)
    assert _shown(tab, "#candidate-list > details") == 19
    assert tab.inner_text("#candidates .count") == "19 of 500 shown"
    tab.select_option("#candidates select[data-key=origin]", "")
    tab.fill("#candidates input[type=search]", "Rule 123: think")
    tab.wait_for_timeout(300)
    shown = tab.evaluate(
        "Array.from(document.querySelectorAll('#candidate-list > details:not([hidden])'))"
        ".map(e => e.id)"
    )
    assert "cand-123" in shown and "cand-1" not in shown and len(shown) < 500
    tab.fill("#candidates input[type=search]", "")
    tab.select_option("#candidates select[name=sort]", "score")
    tab.wait_for_timeout(300)
    scores = tab.evaluate(
        "Array.from(document.querySelectorAll('#candidate-list > details'))"
        ".map(e => parseFloat(e.dataset.score))"
    )
    assert scores == sorted(scores, reverse=True)
    total = _shown(tab, "#proposal-list > details")
    tab.select_option("#proposals select[data-key=decision]", "accepted")
    tab.wait_for_timeout(300)
    assert _shown(tab, "#proposal-list > details") == 499 < total
    tab.close()


def test_screenshot_of_a_small_report(browser: Any, run_result: Result, tmp_path: Path) -> None:
    page = write_report(run_result, tmp_path / "small.html")
    tab, _ = _open(browser, page)
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "report-10.png"), full_page=True)
    assert tab.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    tab.close()


def test_live_page_reloads_while_the_run_writes(browser: Any, tmp_path: Path) -> None:
    from gepakit.report.live import watch_run

    run_dir, page = tmp_path / "run", tmp_path / "live.html"
    worker = threading.Thread(target=_run, args=(run_dir, 0.03, 120))
    worker.start()
    watcher = threading.Thread(
        target=watch_run,
        args=(run_dir, page),
        kwargs={"interval": 1.0, "echo": lambda _: None, "timeout": 90},
    )
    watcher.start()
    try:
        deadline = time.monotonic() + 30
        while not page.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        tab = browser.new_page()
        tab.goto(page.as_uri())
        assert tab.locator("#live").count() == 1
        first = tab.inner_text("#summary .cards")
        tab.wait_for_timeout(2500)  # the page reloads itself from disk meanwhile
        second = tab.inner_text("#summary .cards")
        assert second != first
        tab.close()
    finally:
        worker.join()
        watcher.join()
    tab = browser.new_page()
    tab.goto(page.as_uri())
    assert tab.locator("#live").count() == 0
    tab.close()
