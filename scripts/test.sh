#!/usr/bin/env bash
# Install gepakit with every extra the tests need into .venv, then lint, type-check, test.
# Usage: scripts/test.sh [pytest options]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${GEPAKIT_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q --require-hashes -r requirements/local.lock
"$PY" -m pip install -q -e '.[dev,docs,local,openai,ray,dspy,mlflow,wandb]'
# Headless Chromium for the report's browser test (Debian package).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium; browser tests will be skipped" >&2
  else
    echo "warning: chromium not found; browser tests will be skipped" >&2
  fi
fi
"$VENV/bin/ruff" check src tests benchmarks examples docs/hooks
"$VENV/bin/ruff" format --check src tests benchmarks examples docs/hooks
"$VENV/bin/pyright" --pythonpath "$PY"
# The documentation site, warnings as errors (API reference from the docstrings).
NO_MKDOCS_2_WARNING=1 "$VENV/bin/mkdocs" build --strict --quiet --site-dir "$(mktemp -d)"
# Release readiness: build sdist + wheel, twine check, install the wheel in a fresh venv
# and smoke-test it (about 40 s).
scripts/check_package.sh "$PY"
exec "$VENV/bin/pytest" "$@"
