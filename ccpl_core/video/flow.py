"""Optical flow (OpenCV DIS, no weights to download), warping and occlusion masks."""

from __future__ import annotations

import numpy as np


def require_cv2():
    try:
        import cv2
    except ImportError as exc:
        from ..errors import InputError

        raise InputError(
            f"the temporal blending (optical flow) needs OpenCV, which cannot be imported ({exc}); "
            "install it with `pip install opencv-python` (on a server without a display, "
            "`opencv-python-headless`, or install the system's libGL), or set feature_blend, "
            "flow_blend and detail_blend to 0"
        ) from exc
    return cv2


#: Flow methods by name: DIS presets (speed against accuracy), or Farneback, an independent
#: algorithm used to cross-check warping errors of clips blended with DIS flow.
FLOW_PRESETS = {
    "ultrafast": "DISOPTICAL_FLOW_PRESET_ULTRAFAST",
    "fast": "DISOPTICAL_FLOW_PRESET_FAST",
    "medium": "DISOPTICAL_FLOW_PRESET_MEDIUM",
    "farneback": None,
}


def as_uint8(frame: np.ndarray) -> np.ndarray:
    """A frame as uint8; floats are taken to be in [0, 1]."""
    if frame.dtype == np.uint8:
        return frame
    return (np.clip(frame, 0, 1) * 255).round().astype(np.uint8)


def _gray(frame: np.ndarray) -> np.ndarray:
    """A frame as grey uint8 (a grey uint8 frame as it is)."""
    if frame.ndim == 2 and frame.dtype == np.uint8:
        return frame
    cv2 = require_cv2()
    return cv2.cvtColor(as_uint8(frame), cv2.COLOR_RGB2GRAY)


def flow(a: np.ndarray, b: np.ndarray, preset: str = "medium") -> np.ndarray:
    """Flow from frame a to frame b (float32 [H, W, 2]): b(x + f(x)) ~ a(x)."""
    cv2 = require_cv2()
    if preset == "farneback":
        return cv2.calcOpticalFlowFarneback(_gray(a), _gray(b), None, 0.5, 4, 15, 3, 5, 1.2, 0)
    dis = cv2.DISOpticalFlow_create(getattr(cv2, FLOW_PRESETS[preset]))
    return dis.calc(_gray(a), _gray(b), None)


def warp(image: np.ndarray, flow_field: np.ndarray) -> np.ndarray:
    """Sample ``image`` at x + flow(x) (backward warping), float32 in, float32 out."""
    cv2 = require_cv2()
    h, w = flow_field.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x = gx + flow_field[..., 0]
    map_y = gy + flow_field[..., 1]
    return cv2.remap(
        image.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def occlusion_mask(
    fwd: np.ndarray, bwd: np.ndarray, alpha: float = 0.01, beta: float = 0.5
) -> np.ndarray:
    """1 where the forward-backward check passes (Sundaram et al.), 0 at occlusions/borders.

    ``fwd`` maps t -> t+1 positions and ``bwd`` t+1 -> t; both [H, W, 2] at frame t and t+1.
    """
    bwd_at = warp(bwd, fwd)  # backward flow sampled where each pixel of t lands in t+1
    diff = fwd + bwd_at
    lhs = (diff**2).sum(-1)
    rhs = alpha * ((fwd**2).sum(-1) + (bwd_at**2).sum(-1)) + beta
    h, w = fwd.shape[:2]
    gx, gy = np.meshgrid(np.arange(w), np.arange(h))
    inside = (
        (gx + fwd[..., 0] >= 0)
        & (gx + fwd[..., 0] <= w - 1)
        & (gy + fwd[..., 1] >= 0)
        & (gy + fwd[..., 1] <= h - 1)
    )
    return ((lhs < rhs) & inside).astype(np.float32)
