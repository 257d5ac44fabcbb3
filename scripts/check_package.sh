#!/usr/bin/env bash
# Build the sdist and wheel, check their metadata (twine), install the wheel into a fresh
# venv and run a smoke test there: the package works outside this source tree.
# Usage: scripts/check_package.sh [python]   (default: .venv/bin/python, needs the dev extra)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-${GEPAKIT_VENV:-.venv}/bin/python}"
OUT="$(mktemp -d "${TMPDIR:-/tmp}/gepakit-package.XXXXXX")"
trap 'rm -rf "$OUT"' EXIT
"$PY" -m build --outdir "$OUT/dist" . >"$OUT/build.log" 2>&1 || { cat "$OUT/build.log"; exit 1; }
"$PY" -m twine check --strict "$OUT"/dist/*
WHEEL="$(ls "$OUT"/dist/*.whl)"
# A fresh venv without gepakit's source tree; the core dependencies come from the pip
# cache or the configured index (no extras), gepakit itself only from the built wheel.
"$PY" -m venv "$OUT/venv"
"$OUT/venv/bin/python" -m pip install -q --no-deps "$WHEEL"
"$OUT/venv/bin/python" -m pip install -q typer rich platformdirs
cd "$OUT"  # not the source tree: imports must come from the installed wheel
"$OUT/venv/bin/gepakit" --version
"$OUT/venv/bin/python" - <<'PY'
import gepakit, importlib.metadata as md
from gepakit.testing import ToyTask

assert "site-packages" in gepakit.__file__, gepakit.__file__
assert md.version("gepakit") == gepakit.__version__
task = ToyTask(num_rules=3)
result = gepakit.optimize(task.seed_candidate, task.trainset, task.valset,
                          evaluator=task.evaluate, reflection_lm=task.reflect,
                          max_metric_calls=60, quiet=True)
assert result.best_score > result.val_aggregate_scores[0], result
print(f"smoke test ok: gepakit {gepakit.__version__}, best {result.best_score:.3f}")
PY
