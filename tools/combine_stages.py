"""Combine the decoder of one run and the SCT of another into one model file.

The reconstruct stage trains only the decoder and the sct stage only SCT, so the two can run at
the same time from the same start; this joins their latest checkpoints for the joint stage, for
the benchmark or for shipping.

    python tools/combine_stages.py --decoder runs/art_a/latest.safetensors \
        --sct runs/art_b/latest.safetensors -o runs/art_ab.safetensors
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ccpl_core.cli import run_reporting
from ccpl_core.weights.files import read_state, save_state


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--decoder", required=True, help="checkpoint whose decoder is kept")
    ap.add_argument("--sct", required=True, help="checkpoint whose SCT is kept")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    dec, dmeta = read_state(args.decoder)
    sct, smeta = read_state(args.sct)
    for meta, path in ((dmeta, args.decoder), (smeta, args.sct)):
        if meta.get("ccpl.kind") != "training-checkpoint":
            raise SystemExit(f"{path} is not a training checkpoint")
    if dmeta["ccpl.mode"] != smeta["ccpl.mode"]:
        raise SystemExit("the two checkpoints are of different modes")
    if dmeta.get("ccpl.encoder_fingerprint") != smeta.get("ccpl.encoder_fingerprint"):
        raise SystemExit("the two checkpoints were trained with different encoders")
    state = {k[4:]: v for k, v in dec.items() if k.startswith("net.decoder.")}
    state |= {k[4:]: v for k, v in sct.items() if k.startswith("net.sct.")}
    stages = {
        "decoder": {"from": args.decoder, "iterations": dmeta.get("ccpl.iteration")},
        "sct": {"from": args.sct, "iterations": smeta.get("ccpl.iteration")},
    }
    meta = {
        "ccpl.mode": dmeta["ccpl.mode"],
        "ccpl.kind": "model",
        "ccpl.encoder_fingerprint": dmeta.get("ccpl.encoder_fingerprint", ""),
        "ccpl.iterations": str(int(dmeta["ccpl.iteration"]) + int(smeta["ccpl.iteration"])),
        "ccpl.stages": json.dumps(stages),
    }
    print(save_state(state, Path(args.output), meta, overwrite=True))


if __name__ == "__main__":
    raise SystemExit(run_reporting(main))
