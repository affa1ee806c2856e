#!/usr/bin/env bash
# The test command: set up .venv, lint, run the whole test suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ruff check .
python -m pytest -q "$@"
