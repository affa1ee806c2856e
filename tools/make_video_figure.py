"""Regenerate web/docs/video_coherence.jpg: per-frame vs feature-blended frames and their flicker.

    python tools/make_video_figure.py --clip vtest.avi [--start 20] [--size 272]

Rows: per-frame processing, then the default feature blending. Columns: three consecutive
stylised frames, then the warping-error map between the last two (|frame t+1 - frame t warped
along the input's optical flow|, occlusions black; brighter = more flicker).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ccpl_core import Stylizer, load_image, load_model, resize_short_side
from ccpl_core.cli import run_reporting
from ccpl_core.video import FrameSource, VideoOptions
from ccpl_core.video import flow as flowlib
from ccpl_core.video.engine import DEFAULT_FEATURE_BLEND, ClipStylizer

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--clip", required=True)
    ap.add_argument("--style", default=str(ROOT / "examples/style/starry_night.jpg"))
    ap.add_argument("--start", type=int, default=20, help="first frame shown")
    ap.add_argument("--warmup", type=int, default=10, help="frames run before the first shown")
    ap.add_argument("--size", type=int, default=272)
    ap.add_argument("-o", "--output", default=str(ROOT / "web" / "docs" / "video_coherence.jpg"))
    args = ap.parse_args()

    first = max(0, args.start - args.warmup)
    frames = []
    for i, f in enumerate(FrameSource(args.clip)):
        if i >= args.start + 3:
            break
        if i >= first:
            frames.append(f)
    x = torch.stack([torch.from_numpy(f).permute(2, 0, 1) for f in frames]).float() / 255
    x = resize_short_side(x, args.size)
    src = [(f.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for f in x]
    st = Stylizer(load_model(), precision="auto")
    style = st.prepare_style(resize_short_side(load_image(args.style)[0], 512))
    back = flowlib.flow(src[-1], src[-2])
    mask = flowlib.occlusion_mask(back, flowlib.flow(src[-2], src[-1]))

    rows = []
    for label, blend in (("per-frame", 0.0), (f"feature blend {DEFAULT_FEATURE_BLEND}", None)):
        opts = VideoOptions(feature_blend=DEFAULT_FEATURE_BLEND if blend is None else blend)
        out = ClipStylizer(style, opts)(st, x)[-3:].permute(0, 2, 3, 1).numpy()
        err = np.abs(out[-1] - flowlib.warp(out[-2], back)).mean(-1) * mask
        rmse = float(np.sqrt((err**2).sum() / mask.sum()))
        heat = np.clip(err * 4, 0, 1)[..., None].repeat(3, -1)
        tiles = [*out, heat]
        row = np.concatenate([(np.clip(t, 0, 1) * 255).astype(np.uint8) for t in tiles], axis=1)
        img = Image.fromarray(row)
        ImageDraw.Draw(img).text((6, 4), f"{label}  (warping error {rmse:.3f})", fill="white")
        rows.append(np.asarray(img))
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.output, quality=88)
    print(args.output)


if __name__ == "__main__":
    raise SystemExit(run_reporting(main))
