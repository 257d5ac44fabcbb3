"""benchmarks/noisy_evaluators.py runs and prints one row per configuration."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    path = ROOT / "benchmarks" / "noisy_evaluators.py"
    spec = importlib.util.spec_from_file_location("noisy_evaluators", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_prints_a_row_per_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    _load().main(["--seeds", "2", "--noise", "0.5", "--budget", "60"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 0.5 |")]
    assert len(rows) == 6
    assert rows[0].startswith("| 0.5 | 1 | True | 60 |")
    for row in rows:
        cells = row.split("|")
        assert float(cells[8]) <= int(cells[4])  # calls used within the budget
