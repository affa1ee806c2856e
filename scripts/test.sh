#!/usr/bin/env bash
# The test command: set up .venv, lint, run the whole test suite on the CPU, the device-aware
# (gpu-marked) tests included: they run on CCPL_TEST_DEVICE, the CPU unless it names another.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ruff check .
export CCPL_TEST_DEVICE=${CCPL_TEST_DEVICE:-cpu}
python -m pytest -q "$@"
