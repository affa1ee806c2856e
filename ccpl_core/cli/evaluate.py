"""``ccpl eval temporal``: warping error and style strength of a stylised clip, as JSON."""

from __future__ import annotations

import argparse
import json

from ..images import load_image, resize_short_side
from ..loading import load_model
from ..video import FrameSource
from ..video.flow import FLOW_PRESETS
from ..video.metrics import style_distance, warping_error


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate results (temporal consistency)")
    esub = p.add_subparsers(dest="eval_command", required=True, metavar="WHAT")
    t = esub.add_parser("temporal", help="warping error (interval 1 and 10) and style strength")
    t.add_argument("--source", required=True, help="the input clip (file or frame folder)")
    t.add_argument("--stylized", required=True, help="the stylised clip (same frame count)")
    t.add_argument("--style", default=None, help="style image, for the style-strength figure")
    t.add_argument("--model", default=None, help="model whose encoder measures style strength")
    t.add_argument("--intervals", default="1,10")
    t.add_argument("--size", type=int, default=0, help="resize source frames like `ccpl video`")
    t.add_argument(
        "--flow",
        choices=tuple(FLOW_PRESETS),
        default="medium",
        help="flow for the metric: a DIS preset, or farneback to cross-check clips that were "
        "blended with DIS flow with an independent algorithm",
    )
    t.add_argument("-o", "--output", default=None, help="also write the JSON here")
    t.set_defaults(func=run_temporal)


def run_temporal(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    src, out = FrameSource(args.source), FrameSource(args.stylized)

    def source_frames():
        for f in src:
            if args.size:
                x = torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255
                f = (resize_short_side(x, args.size)[0].permute(1, 2, 0).numpy() * 255).round()
                f = f.astype(np.uint8)
            yield f

    result: dict = {"source": args.source, "stylized": args.stylized, "flow": args.flow}
    for k in (int(x) for x in args.intervals.split(",")):
        result[f"warping_error_{k}"] = warping_error(
            source_frames(), iter(out), interval=k, preset=args.flow
        )
    if args.style:
        encoder = load_model(args.model).encoder
        style = resize_short_side(load_image(args.style)[0], 512)
        result["style_distance"] = style_distance(iter(out), style, encoder)
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text + "\n")
    return 0
