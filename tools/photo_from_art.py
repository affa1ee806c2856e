"""Start a photo-realistic model from an art model: its decoder's last layers, a fresh SCT.

The photo decoder is the art decoder from its first stride-4 layer on (children 10-28, the same
shapes), and it decodes features of the same resolution (relu3_1 against the art decoder's
activations after its first up-sampling): a far better start than random weights.

    python tools/photo_from_art.py models/ccpl_open_art.safetensors -o runs/photo_init.safetensors
"""

from __future__ import annotations

import argparse

import torch

from ccpl_core.loading import load_model
from ccpl_core.models import SCTNet
from ccpl_core.models.decoder import DECODER_START
from ccpl_core.weights.files import save_sctnet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("art_model")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    art = load_model(args.art_model, mode="art")
    torch.manual_seed(args.seed)
    photo = SCTNet("photo")
    photo.encoder.load_state_dict(art.encoder.state_dict(), strict=False)
    start = DECODER_START["photo"]
    tail = {k: v for k, v in art.decoder.state_dict().items() if int(k.split(".")[0]) >= start}
    photo.decoder.load_state_dict(tail)
    meta = {"ccpl.source": f"photo model started from the decoder of {args.art_model}"}
    print(save_sctnet(photo, args.output, meta, overwrite=True))


if __name__ == "__main__":
    main()
