"""Where can flicker be carried away? Blending variants beyond the shipped options, measured.

    python benchmarks/coherence_variants.py --clip bikes.mp4 --start 40 --stop 160

Every variant starts from the same per-frame fused SCT features and DIS motion (computed once)
and differs only in what is carried along the flow from the previous frame:

* ``feature S``: the fused features (1/8 resolution), as ``--feature-blend S`` does;
* ``+decoder S``: also the decoder's full-resolution activations after its last up-sampling
  (64 channels), with the channel moments restored like the feature blend, as
  ``--detail-blend S`` does;
* ``+image S``: also the stylised image, as ``--flow-blend S`` does.

It reports the short-term warping error and the style distance relative to per-frame
processing (fp32, untiled, one frame at a time). Results: docs/benchmarks.md, "Video coherence".
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
import torch

from ccpl_core import load_image, load_model, resize_short_side
from ccpl_core.cli import run_reporting
from ccpl_core.models import ContentStats
from ccpl_core.video import FrameSource
from ccpl_core.video import flow as flowlib
from ccpl_core.video.metrics import masked_warp_rmse, style_distance
from ccpl_core.video.temporal import (
    FEATURE_FLOW_SIDE,
    blend_along_flow,
    blend_images,
    estimate_motion,
)

VARIANTS = {
    "per-frame": {},
    "feature 0.95": {"feature": 0.95},
    "feature 0.95 +decoder 0.2": {"feature": 0.95, "decoder": 0.2},
    "feature 0.95 +decoder 0.5": {"feature": 0.95, "decoder": 0.5},
    "feature 0.95 +image 0.1": {"feature": 0.95, "image": 0.1},
    "feature 0.95 +image 0.2": {"feature": 0.95, "image": 0.2},
}


def load_frames(clip: str, start: int, stop: int, size: int) -> list[np.ndarray]:
    frames = []
    for i, f in enumerate(FrameSource(clip)):
        if i >= stop:
            break
        if i >= start:
            x = resize_short_side(torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255, size)
            h, w = (x.shape[-2] // 8) * 8, (x.shape[-1] // 8) * 8  # whole feature cells
            frames.append((x[0, :, :h, :w].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    return frames


@torch.inference_mode()
def run_variant(net, fused, motions, variant: dict) -> list[np.ndarray]:
    prev_feat = prev_act = None
    prev_img = None
    outs = []
    for feat, motion in zip(fused, motions, strict=True):
        if variant.get("feature") and prev_feat is not None:
            feat = blend_along_flow(feat, prev_feat, motion, variant["feature"])
        prev_feat = feat
        x = net.decoder.head(feat[None])  # full-resolution activations, as --detail-blend
        if variant.get("decoder"):
            if prev_act is not None:
                x = blend_along_flow(x[0], prev_act, motion, variant["decoder"])[None]
            prev_act = x[0]
        x = net.decoder.tail(x)
        img = blend_images(
            x[0].clamp(0, 1).permute(1, 2, 0).numpy(), prev_img, motion, variant.get("image", 0.0)
        )
        prev_img = img
        outs.append((np.clip(img, 0, 1) * 255).round().astype(np.uint8))
    return outs


def warping_errors(outs, pairs) -> float:
    """ccpl eval temporal's interval-1 figure, with the metric's flow computed once for all."""
    errors = [
        masked_warp_rmse(a, b, back, mask)
        for (back, mask), (a, b) in zip(pairs, itertools.pairwise(outs), strict=True)
        if mask.sum() > 0
    ]
    return float(np.mean(errors))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--clip", required=True)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--stop", type=int, default=120)
    ap.add_argument("--size", type=int, default=272)
    ap.add_argument("--style", default="examples/style/starry_night.jpg")
    ap.add_argument("--model", default="ccpl-starter-art")
    ap.add_argument("--variants", default="", help="comma-separated names (default: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="JSON file for the results")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net = load_model(args.model).eval()
    style = resize_short_side(load_image(args.style)[0], 512)
    frames = load_frames(args.clip, args.start, args.stop, args.size)
    with torch.inference_mode():
        code = net.sct.style_code(net.encoder(style))
        fused = []
        for f in frames:
            feat = net.encoder(torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255)
            fused.append(net.sct.fuse(feat, code, ContentStats.of(feat))[0].clone())
    motions = [None] + [
        estimate_motion(a, b, "medium", FEATURE_FLOW_SIDE) for a, b in itertools.pairwise(frames)
    ]
    pairs = []  # the metric's own flow and mask, full size (as ccpl eval temporal)
    for a, b in itertools.pairwise(frames):
        back, fwd = flowlib.flow(b, a), flowlib.flow(a, b)
        pairs.append((back, flowlib.occlusion_mask(back, fwd)))
    names = args.variants.split(",") if args.variants else list(VARIANTS)
    results, base = {}, None
    for name in names:
        t0 = time.perf_counter()
        outs = run_variant(net, fused, motions, VARIANTS[name])
        we = warping_errors(outs, pairs)
        sd = style_distance(outs, style, net.encoder, every=5)  # as bench_video.py
        base = base or (we, sd)
        results[name] = {
            "warping_error_1": we,
            "style_distance": sd,
            "warping_error_1_vs_per_frame": we / base[0],
            "style_distance_vs_per_frame": sd / base[1],
        }
        print(
            f"{name:28s} WE1 {we:.4f} ({we / base[0]:.2f}x)  style {sd:.3f} ({sd / base[1]:.3f}x)"
            f"  {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
    if args.out:
        record = {"args": {k: str(v) for k, v in vars(args).items()}, "result": results}
        args.out.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    raise SystemExit(run_reporting(main))
