"""How the HTML report scales with the number of candidates.

Builds synthetic runs (`tests/report/conftest.py: make_large_result`) of 10, 100 and 500
candidates with 100 val examples and 3 proposals per candidate, writes their reports
and prints, side by side: time to compute and render the page, its size, and (when
Playwright and Chromium are installed) the time headless Chromium takes to load it, its
DOM size and whether the page is wider than a 1280 px viewport.

Usage: python benchmarks/report_scale.py [--sizes 10 100 500]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.report.conftest import make_large_result

from gepakit.report import build_report_data
from gepakit.report.html import write_html


def _browser_stats(page: Path) -> dict[str, Any] | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=flags)
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        start = time.perf_counter()
        tab.goto(page.as_uri(), wait_until="load")
        seconds = time.perf_counter() - start
        stats = {
            "load_s": seconds,
            "dom": tab.evaluate("document.getElementsByTagName('*').length"),
            "lineage_px": tab.evaluate(
                "Math.round(document.getElementById('lineage-chart').getBoundingClientRect().width)"
            ),
            "overflow_px": tab.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            ),
        }
        browser.close()
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 500])
    args = parser.parse_args()
    print(
        "| candidates | proposals | build + render s | page MB | browser load s | DOM nodes "
        "| lineage px | overflow px |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            result = make_large_result(n=n)
            start = time.perf_counter()
            page = write_html(build_report_data(result), Path(tmp) / f"r{n}.html")
            built = time.perf_counter() - start
            stats = _browser_stats(page) or {}
            print(
                f"| {n} | {len(result.proposals)} | {built:.2f} | "
                f"{page.stat().st_size / 1e6:.2f} | {stats.get('load_s', float('nan')):.2f} | "
                f"{stats.get('dom', '-')} | {stats.get('lineage_px', '-')} | "
                f"{stats.get('overflow_px', '-')} |"
            )


if __name__ == "__main__":
    main()
