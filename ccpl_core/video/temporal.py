"""Flow-guided temporal coherence: motion between input frames, image- and feature-space blending.

Three ways to carry the previous stylised frame forward along the motion of the *input* clip:

* :func:`blend_images` (image space) averages the warped previous output into the new one. It
  removes flicker strongly, but averaging two textures that do not line up exactly blurs them,
  which weakens the style.
* :func:`blend_along_flow` on the fused SCT features (1/8 resolution) warps the previous frame's
  features instead, blends them in where the flow is reliable and restores each channel's mean
  and standard deviation to the current frame's. The decoder then paints sharp texture that
  follows the motion, so flicker drops without losing style strength.
* :func:`blend_along_flow` on the decoder's full-resolution activations (before its last two
  convolutions) does the same at pixel level: the decoder paints texture on the 8-pixel feature
  grid and cannot move it by a fraction of a cell, so in slow, sub-pixel motion the texture stays
  put while the scene slides; carrying the fine activations lets it slide too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import flow as flowlib

#: Shorter side (pixels) at which flow is computed for feature blending: features are 1/8 of the
#: frame, so flow finer than this adds cost and no accuracy.
FEATURE_FLOW_SIDE = 540
#: When less than this fraction of the frame passes the forward-backward check, the frame is
#: treated as a scene cut (different photos pass on 1-8 % of the frame, real motion on 85-98 %).
CUT_FRACTION = 0.2


@dataclass
class Motion:
    """Backward flow (frame t -> t-1) and its reliability, at some working resolution."""

    back: np.ndarray  # [h, w, 2] float32, in working-resolution pixels
    mask: np.ndarray  # [h, w] float32 in [0, 1]; 0 at occlusions and where flow leaves the frame

    def at(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Flow (in pixels of the new size) and mask resampled to ``height`` x ``width``."""
        h, w = self.mask.shape
        if (h, w) == (height, width):
            return self.back, self.mask
        cv2 = flowlib.require_cv2()
        shrink = height < h
        interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        back = cv2.resize(self.back, (width, height), interpolation=interp)
        back[..., 0] *= width / w
        back[..., 1] *= height / h
        mask = cv2.resize(self.mask, (width, height), interpolation=interp)
        return back, np.clip(mask, 0.0, 1.0)

    def padded(self, height: int, width: int, padded_height: int, padded_width: int) -> Motion:
        """This motion at ``height`` x ``width``, edge-extended to the bottom and right.

        For maps whose top-left ``height`` x ``width`` pixels are the frame and the rest is
        padding (the decoder's activations before they are cropped to the frame).
        """
        back, mask = self.at(height, width)
        pad = ((0, padded_height - height), (0, padded_width - width))
        return Motion(np.pad(back, (*pad, (0, 0)), mode="edge"), np.pad(mask, pad, mode="edge"))


def flow_frame(frame: np.ndarray, max_side: int | None = None) -> np.ndarray:
    """A frame [H, W, 3] (uint8, or float in [0, 1]) as the grey uint8 image flow is computed on,
    shrunk so that its shorter side is at most ``max_side``. Done once per frame and size."""
    cv2 = flowlib.require_cv2()
    frame = flowlib.as_uint8(frame)
    h, w = frame.shape[:2]
    if max_side and min(h, w) > max_side:
        f = max_side / min(h, w)
        size = (max(1, round(w * f)), max(1, round(h * f)))
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def estimate_motion(
    prev: np.ndarray, cur: np.ndarray, preset: str = "medium", max_side: int | None = None
) -> Motion:
    """DIS flow cur -> prev with a forward-backward reliability mask, zero at scene cuts.

    Frames are [H, W, 3] uint8 or float in [0, 1], or grey frames from :func:`flow_frame`; with
    ``max_side`` the flow is computed on frames shrunk so that their shorter side is at most that
    many pixels.
    """
    if prev.ndim == 3:
        prev, cur = flow_frame(prev, max_side), flow_frame(cur, max_side)
    back = flowlib.flow(cur, prev, preset)
    fwd = flowlib.flow(prev, cur, preset)
    mask = flowlib.occlusion_mask(back, fwd)
    if mask.mean() < CUT_FRACTION:  # a scene cut (or chaos): carry nothing over
        mask[:] = 0.0
    return Motion(back, mask)


def blend_images(
    stylised: np.ndarray, prev_out: np.ndarray | None, motion: Motion | None, strength: float
) -> np.ndarray:
    """Image space: ``(1 - s*m) * stylised + s*m * warp(prev_out)``, m = where flow is reliable.

    ``stylised`` and ``prev_out`` float32 [H, W, 3] in [0, 1]; ``motion`` None for a first frame.
    """
    if strength <= 0 or motion is None or prev_out is None:
        return stylised
    back, mask = motion.at(*stylised.shape[:2])
    weight = mask[..., None] * strength
    return (1.0 - weight) * stylised + weight * flowlib.warp(prev_out, back)


def carry_along_flow(
    batch: torch.Tensor,
    prev: torch.Tensor | None,
    motions: list[Motion | None],
    strength: float,
) -> torch.Tensor:
    """Blend each of a run of consecutive frames' tensors [B, C, h, w] with the one before it.

    Frame i is blended with frame i-1's already blended tensor (``prev`` for the first), warped
    along ``motions[i]``: strength 1 keeps the warped previous tensor wherever the flow is
    reliable (new content only enters at occlusions); lower values let each frame's own back in.
    Pure: the caller keeps the last result as the next run's ``prev``.
    """
    if len(motions) != batch.shape[0]:
        raise ValueError(f"{batch.shape[0]} frames but {len(motions)} motions")
    out = []
    for cur, motion in zip(batch, motions, strict=True):
        if motion is not None and prev is not None and strength > 0:
            cur = blend_along_flow(cur, prev, motion, strength)
        out.append(cur)
        prev = cur
    return torch.stack(out)


#: Float32 elements per channel group in :func:`blend_along_flow` (64 MB of temporaries), so a
#: full-resolution activation map is blended without a float32 copy of the whole map.
BLEND_GROUP_ELEMENTS = 16 * 1024 * 1024


def blend_along_flow(
    cur: torch.Tensor, prev: torch.Tensor, motion: Motion, strength: float
) -> torch.Tensor:
    """Warp ``prev`` [C, h, w] along ``motion`` onto ``cur``'s grid and blend it in.

    Where the flow is reliable the result is ``lerp(cur, warped prev, strength)``; then each
    channel gets ``cur``'s mean and standard deviation back, because averaging shrinks the spread.
    Channels are independent, so they are processed in groups that bound the float32 temporaries.
    """
    c, h, w = cur.shape
    back, mask = motion.at(h, w)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    # sample positions in grid_sample's [-1, 1] coordinates (align_corners=True)
    sx = (gx + back[..., 0]) * (2 / max(w - 1, 1)) - 1
    sy = (gy + back[..., 1]) * (2 / max(h - 1, 1)) - 1
    grid_t = torch.from_numpy(np.stack([sx, sy], axis=-1))[None].to(cur.device)
    weight = torch.from_numpy(mask * strength).to(cur.device)[None]
    out = torch.empty_like(cur)
    group = max(1, BLEND_GROUP_ELEMENTS // (h * w))
    dims = (1, 2)
    for c0 in range(0, c, group):
        part = slice(c0, c0 + group)
        cur32 = cur[part].float()
        warped = F.grid_sample(
            prev[part].to(cur.device, torch.float32)[None],
            grid_t,
            mode="bicubic",
            padding_mode="border",
            align_corners=True,
        )[0]
        blended = warped.sub_(cur32).mul_(weight).add_(cur32)  # lerp(cur, warped, weight)
        mean = blended.mean(dims, keepdim=True)
        std = blended.std(dims, keepdim=True, correction=0)
        target_mean = cur32.mean(dims, keepdim=True)
        target_std = cur32.std(dims, keepdim=True, correction=0)
        scale = target_std / (std + 1e-5)
        out[part] = blended.sub_(mean).mul_(scale).add_(target_mean).to(cur.dtype)
    return out
