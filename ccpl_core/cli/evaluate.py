"""``ccpl eval temporal``: warping error and style strength of a stylised clip, as JSON."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..errors import InputError
from ..fsutil import atomic_write, refuse_inputs
from ..images import check_writable, load_image_resized, max_pixels, planned_size, resize_short_side
from ..loading import load_model
from ..option_specs import FRAME_SIZE, METRIC_FLOW
from ..options import int_list
from ..video import FrameSource
from ..video.metrics import style_distance, warping_error
from .arguments import add_argument, max_pixels_argument, model_group, model_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate results (temporal consistency)")
    esub = p.add_subparsers(dest="eval_command", required=True, metavar="WHAT")
    t = esub.add_parser("temporal", help="warping error (interval 1 and 10) and style strength")
    t.add_argument("--source", required=True, help="the input clip (file or frame folder)")
    t.add_argument("--stylized", required=True, help="the stylised clip (same frame count)")
    t.add_argument("--style", default=None, help="style image, for the style-strength figure")
    model_group(t, help="model whose encoder measures style strength", mode=False)
    t.add_argument(
        "--intervals",
        type=int_list,
        default=[1, 10],
        help="frame intervals of the warping error, comma-separated (default 1,10)",
    )
    add_argument(t, FRAME_SIZE, help="resize source frames like `ccpl video --size`")
    max_pixels_argument(t, "frame or image read")
    add_argument(t, METRIC_FLOW)
    t.add_argument("-o", "--output", default=None, help="also write the JSON here")
    t.add_argument("--overwrite", action="store_true", help="replace an existing -o file")
    t.set_defaults(func=run_temporal)


def run_temporal(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    if args.output:
        check_json_output(args)
    limit = max_pixels(args.max_pixels)  # resolved once: a bad $CCPL_MAX_PIXELS is refused here
    src = FrameSource(args.source, max_pixels=limit)
    out = FrameSource(args.stylized, max_pixels=limit)
    size = planned_size(src.info.height, src.info.width, args.size)
    if size != (out.info.height, out.info.width):
        raise InputError(
            f"{args.source} gives {size[1]}x{size[0]} frames at --size {args.size} but "
            f"{args.stylized} has {out.info.width}x{out.info.height}; pass the --size the clip "
            "was stylised with"
        )
    counts = [n for n in (src.info.frames, out.info.frames) if n]
    if counts and min(counts) <= max(args.intervals):
        raise InputError(
            f"{args.stylized}: {min(counts)} frames are too few for interval "
            f"{max(args.intervals)}; use smaller --intervals"
        )

    def source_frames():
        for f in src:
            if args.size:
                x = torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255
                f = (resize_short_side(x, args.size)[0].permute(1, 2, 0).numpy() * 255).round()
                f = f.astype(np.uint8)
            yield f

    result: dict = {"source": args.source, "stylized": args.stylized, "flow": args.flow}
    for k in args.intervals:
        result[f"warping_error_{k}"] = warping_error(
            source_frames(), iter(out), interval=k, preset=args.flow
        )
    if args.style:
        encoder = load_model(args.model, **model_options(args)).encoder
        style = load_image_resized(args.style, 512, limit, "style")
        result["style_distance"] = style_distance(iter(out), style, encoder)
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        data = (text + "\n").encode()
        atomic_write(args.output, lambda fh: fh.write(data), overwrite=args.overwrite)
    return 0


def check_json_output(args: argparse.Namespace) -> None:
    """Refuse, before anything is measured, a ``-o`` that could not or must not be written: in
    a folder that does not exist, over an existing file (without ``--overwrite``) or over one of
    the inputs (the clip it measures)."""
    out = Path(args.output)
    refuse_inputs(out, [args.source, args.stylized, args.style, args.model])
    if out.is_dir():
        raise InputError(f"-o {out} is a folder; name a file for the JSON")
    if not out.parent.is_dir():
        raise InputError(
            f"-o {out}: the folder {out.parent} does not exist; create it or choose another place"
        )
    if os.path.lexists(out) and not args.overwrite:
        raise InputError(f"output exists: {out} (use --overwrite)")
    check_writable([out])
