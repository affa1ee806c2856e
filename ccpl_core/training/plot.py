"""A dependency-free loss-curve picture (Pillow only) for the finetune node and training runs."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw

COLOURS = {
    "total": (20, 20, 20),
    "content": (31, 119, 180),
    "style": (214, 39, 40),
    "ccpl": (44, 160, 44),
}


def loss_curve(
    history: list[dict], width: int = 640, height: int = 360, title: str = ""
) -> torch.Tensor:
    """Plot each loss (log scale, normalised to its first value) against the iteration.

    ``title`` (e.g. where the model was saved) is written above the plot. Returns a float image
    [1, 3, height, width] in [0, 1].
    """
    im = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(im)
    left, right, top, bottom = 50, width - 10, 30, height - 30
    draw.rectangle([left, top, right, bottom], outline=(180, 180, 180))
    draw.text((left, 8), title or "loss / first value (log scale) vs step", fill=(0, 0, 0))
    if len(history) >= 1:
        steps = [h["iteration"] for h in history]
        x0, x1 = min(steps), max(max(steps), min(steps) + 1)
        series = {}
        for key in COLOURS:
            vals = [h.get(key) for h in history]
            if all(isinstance(v, int | float) and v > 0 for v in vals):
                series[key] = [math.log10(v / vals[0]) for v in vals]
        lo = min((min(v) for v in series.values()), default=-1.0)
        hi = max((max(v) for v in series.values()), default=0.0)
        lo, hi = min(lo, -0.1), max(hi, 0.1)
        for k, (key, vals) in enumerate(series.items()):
            pts = [
                (
                    left + (s - x0) / (x1 - x0) * (right - left),
                    bottom - (v - lo) / (hi - lo) * (bottom - top),
                )
                for s, v in zip(steps, vals, strict=True)
            ]
            if len(pts) == 1:
                pts = pts * 2
            draw.line(pts, fill=COLOURS[key], width=2)
            draw.text((left + 8 + 90 * k, bottom + 8), key, fill=COLOURS[key])
        draw.text((left - 45, top), f"{10**hi:.2g}x", fill=(0, 0, 0))
        draw.text((left - 45, bottom - 10), f"{10**lo:.2g}x", fill=(0, 0, 0))
        draw.text((right - 60, bottom + 8), f"step {x1}", fill=(0, 0, 0))
    arr = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0)
    return arr.permute(2, 0, 1)[None].contiguous()
