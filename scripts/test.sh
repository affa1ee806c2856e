#!/usr/bin/env bash
# The test command: set up .venv, lint, run the whole test suite on the CPU, the device-aware
# (gpu-marked) tests included: they run on CCPL_TEST_DEVICE, the CPU unless it names another;
# and the integration tests against a real ComfyUI and Chromium, which scripts/comfyui.sh sets up.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ruff check .
export CCPL_TEST_DEVICE=${CCPL_TEST_DEVICE:-cpu}
# a real ComfyUI and a real browser for tests/test_comfyui.py and tests/test_browser.py
# (CCPL_INTEGRATION=0 skips them, e.g. on a machine without Debian's apt)
if [ "${CCPL_INTEGRATION:-1}" = 1 ]; then
  eval "$(bash scripts/comfyui.sh)"
fi
python -m pytest -q "$@"
