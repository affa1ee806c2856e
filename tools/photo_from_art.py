"""Start a photo-realistic model from an art model: its decoder's last layers, a fresh SCT.

(ccpl_core.models.sctnet.photo_from_art says why.)

    python tools/photo_from_art.py models/ccpl_open_art.safetensors -o runs/photo_init.safetensors
"""

from __future__ import annotations

import argparse

import torch

from ccpl_core.cli import run_reporting
from ccpl_core.loading import load_model
from ccpl_core.models.sctnet import photo_from_art
from ccpl_core.weights.files import save_sctnet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("art_model")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    art = load_model(args.art_model, mode="art")
    torch.manual_seed(args.seed)
    photo = photo_from_art(art)
    meta = {"ccpl.source": f"photo model started from the decoder of {args.art_model}"}
    print(save_sctnet(photo, args.output, meta, overwrite=True))


if __name__ == "__main__":
    raise SystemExit(run_reporting(main))
