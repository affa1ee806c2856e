#!/usr/bin/env bash
# The main job: set up .venv, then stylise the sample photos with the default bundled model
# (no download, works offline). Results land in out/.
set -euo pipefail
cd "$(dirname "$0")/.."
CCPL_EXTRAS=test . scripts/setup.sh
mkdir -p out
ccpl stylize examples/content --style examples/style/starry_night.jpg --size 512 --overwrite -o out
echo "stylised images are in $(pwd)/out"
