"""Temporal-consistency and style-strength figures for stylised clips.

Warping error: optical flow between *input* frames t+k and t (DIS), warp stylised frame t onto
t+k, mask occlusions with the forward-backward check, report the masked RMSE on [0, 1] images,
averaged over the clip (k = 1 short-term, k = 10 long-term). A lower warping error means less
flicker, but weak stylisation lowers it too, so a style-strength figure goes with it: the
distance of the output's VGG channel statistics to the style's (lower = stronger style).
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Iterable

import numpy as np
import torch

from ..errors import InputError
from ..losses import mean_std
from ..models import VGGEncoder
from . import flow as flowlib


def warping_error(
    source: Iterable[np.ndarray],
    stylised: Iterable[np.ndarray],
    interval: int = 1,
    preset: str = "medium",
) -> float:
    """Mean masked RMSE between stylised frame t+k and stylised frame t warped onto it.

    Frames are compared in order until either clip ends. A size mismatch, a clip too short for
    ``interval`` or frames without a single trackable pixel raise :class:`InputError`, which says
    what to change, instead of returning a figure that means nothing.
    """
    try:
        whole = operator.index(interval)
    except TypeError:
        whole = 0
    if isinstance(interval, bool) or whole < 1:
        raise InputError(f"warping error: interval must be a whole number >= 1, got {interval!r}")
    interval = whole
    window: deque = deque(maxlen=interval + 1)
    errors = []
    seen = 0
    for idx, (fin, fout) in enumerate(zip(source, stylised, strict=False)):
        if fin.shape[:2] != fout.shape[:2]:
            raise InputError(
                f"warping error: frame {idx}: the source is {_size(fin)} but the stylised frame "
                f"is {_size(fout)}; compare the clip with the source at the size it was "
                "stylised from (resize the source the same way)"
            )
        seen = idx + 1
        window.append((fin, fout.astype(np.float32) / (255.0 if fout.dtype == np.uint8 else 1.0)))
        if len(window) == interval + 1:
            (a_in, a_out), (b_in, b_out) = window[0], window[-1]
            back = flowlib.flow(b_in, a_in, preset)  # t+k -> t
            mask = flowlib.occlusion_mask(back, flowlib.flow(a_in, b_in, preset))
            if mask.sum() > 0:
                errors.append(masked_warp_rmse(a_out, b_out, back, mask))
    if seen <= interval:
        raise InputError(
            f"warping error: {seen} frame(s) are too few for interval {interval}; it needs at "
            f"least {interval + 1}: use a longer clip or a smaller interval"
        )
    if not errors:
        raise InputError(
            f"warping error: no pixel could be followed between frames {interval} apart in "
            f"{seen} frames (scene cuts or blank frames?); use a smaller interval or another clip"
        )
    return float(np.mean(errors))


def _size(frame: np.ndarray) -> str:
    """``WxH`` of an [H, W, C] frame, as people write sizes."""
    return f"{frame.shape[1]}x{frame.shape[0]}" if frame.ndim >= 2 else str(frame.shape)


def masked_warp_rmse(
    earlier: np.ndarray, later: np.ndarray, back: np.ndarray, mask: np.ndarray
) -> float:
    """RMSE between ``later`` and ``earlier`` warped onto it by ``back``, where ``mask`` is 1.

    Frames are float [H, W, 3] in [0, 1] (uint8 is scaled); ``mask`` must not be all zero.
    """
    a, b = (
        f.astype(np.float32) / 255.0 if f.dtype == np.uint8 else np.asarray(f, np.float32)
        for f in (earlier, later)
    )
    sq = ((b - flowlib.warp(a, back)) ** 2).mean(-1)
    return float(np.sqrt((sq * mask).sum() / mask.sum()))


@torch.no_grad()
def style_distance(
    frames: Iterable[np.ndarray], style: torch.Tensor, encoder: VGGEncoder, every: int = 10
) -> float:
    """Mean over sampled frames of the mean/std distance to the style at every encoder tap."""
    targets = [mean_std(f) for f in encoder.taps(style)]
    dists = []
    for i, frame in enumerate(frames):
        if i % every:
            continue
        x = torch.from_numpy(np.array(frame, copy=True)).permute(2, 0, 1)[None].float()
        x = x / 255.0 if frame.dtype == np.uint8 else x
        d = 0.0
        for f, (tm, ts) in zip(encoder.taps(x), targets, strict=True):
            m, s = mean_std(f)
            d += float(((m - tm) ** 2).mean() + ((s - ts) ** 2).mean())
        dists.append(d)
    return float(np.mean(dists))
