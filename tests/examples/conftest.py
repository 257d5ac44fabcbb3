"""Import the runnable examples under examples/ as modules, for their smoke tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str, module: str = "main") -> ModuleType:
    """`examples/<name>/<module>.py`, imported under a unique module name."""
    path = EXAMPLES / name / f"{module}.py"
    key = f"example_{name}_{module}"
    spec = importlib.util.spec_from_file_location(key, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[key] = mod
    spec.loader.exec_module(mod)
    return mod
