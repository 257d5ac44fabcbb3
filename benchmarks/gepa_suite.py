"""Run gepa's own `optimize` tests against `gepakit.gepa.optimize` (one import changed).

Nothing of gepa is copied into this repository: point the script at the ``tests``
directory of a gepa checkout (``git clone --branch v0.1.4
https://github.com/gepa-ai/gepa``). It copies them to a temporary directory, runs
them once as they are (gepa) and once with ``gepa.optimize`` / ``from gepa import
optimize`` swapped for gepakit's, and prints every test whose outcome differs.

Usage: python benchmarks/gepa_suite.py /path/to/gepa/tests [test files ...]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

DEFAULT_FILES = (
    "test_optimize.py",
    "test_callbacks.py",
    "test_callbacks_integration",
    "test_evaluation_cache.py",
    "test_state.py",
    "test_reflection_lm.py",
    "test_parallel_valset_eval.py",
    "test_multi_proposal_invariants.py",
    "test_incremental_eval_policy.py",
    "test_parallel_proposals.py",
    "test_result.py",
)

SWAP_FIXTURE = '''

@pytest.fixture(autouse=True)
def _gepakit_swap(monkeypatch):
    """gepa.optimize is gepakit.gepa.optimize (the one changed import)."""
    import gepa

    import gepakit.gepa

    monkeypatch.setattr(gepa, "optimize", gepakit.gepa.optimize)
'''


def outcomes(tests: Path, files: list[str]) -> dict[str, str]:
    """Test id -> passed / failed / error / skipped, from a pytest run in `tests`."""
    report = tests / "report.xml"
    command = [sys.executable, "-m", "pytest", *files, "-q", "-p", "no:cacheprovider"]
    subprocess.run(
        [*command, f"--junitxml={report}"],
        cwd=tests,
        capture_output=True,
        check=False,
    )
    result: dict[str, str] = {}
    for case in ET.parse(report).iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        kinds = [child.tag for child in case]
        result[name] = next((k for k in ("failure", "error", "skipped") if k in kinds), "passed")
    return result


def swapped_copy(source: Path, target: Path) -> None:
    shutil.copytree(source, target)
    for path in target.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        new = text.replace("from gepa import optimize", "from gepakit.gepa import optimize")
        new = new.replace(
            "from gepa.core.result import GEPAResult", "from gepakit.gepa import GEPAResult"
        )
        if new != text:
            path.write_text(new, encoding="utf-8")
    conftest = target / "conftest.py"
    base = conftest.read_text(encoding="utf-8") if conftest.exists() else "import pytest\n"
    conftest.write_text(base + SWAP_FIXTURE, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description="gepa's tests against gepakit.gepa")
    parser.add_argument("tests", type=Path, help="the tests directory of a gepa checkout")
    parser.add_argument("files", nargs="*", default=list(DEFAULT_FILES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plain, swapped = Path(tmp) / "gepa", Path(tmp) / "gepakit"
        shutil.copytree(args.tests, plain)
        swapped_copy(args.tests, swapped)
        theirs = outcomes(plain, args.files)
        ours = outcomes(swapped, args.files)
    both = sum(1 for k, v in theirs.items() if v == "passed" and ours.get(k) == "passed")
    print(f"{len(theirs)} tests; gepa passes {list(theirs.values()).count('passed')}, ", end="")
    print(f"gepakit.gepa passes {list(ours.values()).count('passed')} ({both} of gepa's)")
    for name in sorted(theirs):
        if theirs[name] != ours.get(name):
            print(f"  gepa {theirs[name]:7} gepakit {ours.get(name, '-'):7} {name}")


if __name__ == "__main__":
    main()
