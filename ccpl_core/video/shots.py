"""Scene cuts found on the input frames, and the shots between them.

A clip's temporal state (the carried features, the running statistics, the palette step's
colour map) belongs to one shot: across a cut there is nothing to carry. The streaming engine
starts a fresh state at every cut this module finds, and the shot-parallel engine
(:mod:`ccpl_core.cluster.video`) splits a clip at the same cuts, so that each shot stylised on
its own equals the same frames of a serial run.

A cut is where the motion between two small grey frames explains less than
:data:`temporal.CUT_FRACTION` of the picture (flow that passes its forward-backward check and
warps the earlier frame onto the later one). On 96-pixel frames, two different pictures match
on at most 8 % (95th percentile 3 %, 210 pairs of photos and paintings), consecutive frames of
real clips on 87-99 %, and a pan of a quarter of the frame width per frame on 42 %; only a pan
of over a third of the frame per frame reads as a cut (benchmarks/bench_shot_cuts.py,
benchmarks/results/shot_cuts.json).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import flow as flowlib
from .io import FrameSource, Timing
from .temporal import CUT_FRACTION, flow_frame

#: Shorter side (pixels) of the grey frames cuts are looked for on: enough for the flow check,
#: cheap next to the network (well under a millisecond a frame pair).
SHOT_SIDE = 96
#: The flow preset of the cut test (a fixed choice: the cuts must not depend on any option).
SHOT_FLOW = "medium"
#: Grey levels within which a warped pixel counts as explained by the motion.
MATCH_LEVELS = 16


def shot_frame(frame: np.ndarray) -> np.ndarray:
    """What the cut test compares: ``frame`` [H, W, 3] as a small grey uint8 image."""
    return flow_frame(frame, SHOT_SIDE)


def matched_fraction(prev: np.ndarray, cur: np.ndarray) -> float:
    """Share of ``cur``'s pixels that the flow from ``prev`` explains: the flow passes its
    forward-backward check there and ``prev`` warped along it is within :data:`MATCH_LEVELS`."""
    back = flowlib.flow(cur, prev, SHOT_FLOW)
    fwd = flowlib.flow(prev, cur, SHOT_FLOW)
    reliable = flowlib.occlusion_mask(back, fwd)
    warped = flowlib.warp(prev.astype(np.float32), back)
    close = np.abs(warped - cur.astype(np.float32)) < MATCH_LEVELS
    return float((reliable * close).mean())


def is_cut(prev: np.ndarray, cur: np.ndarray) -> bool:
    """Whether ``cur`` starts a new shot after ``prev`` (both from :func:`shot_frame`)."""
    return prev.shape != cur.shape or matched_fraction(prev, cur) < CUT_FRACTION


class CutFinder:
    """Feed frames in order; says for each whether it starts a new shot (the first does not)."""

    def __init__(self) -> None:
        self._prev: np.ndarray | None = None

    def __call__(self, frame: np.ndarray) -> bool:
        small = shot_frame(frame)
        cut = self._prev is not None and is_cut(self._prev, small)
        self._prev = small
        return cut


@dataclass(frozen=True)
class Shot:
    """Frames ``start`` .. ``stop - 1`` of a clip; ``pts`` is the first one's timestamp (None
    for a frames folder or a container without timestamps)."""

    start: int
    stop: int
    pts: int | None = None

    def __len__(self) -> int:
        return self.stop - self.start


def find_shots(source: FrameSource) -> tuple[list[Shot], list[Timing | None]]:
    """The clip's shots in order, and every frame's timing (for joining them), in one pass."""
    finder = CutFinder()
    starts: list[tuple[int, int | None]] = []
    timings: list[Timing | None] = []
    for i, (frame, timing) in enumerate(source.timed()):
        if finder(frame) or i == 0:
            starts.append((i, timing.pts if timing else None))
        timings.append(timing)
    ends = [s for s, _ in starts[1:]] + [len(timings)]
    return [Shot(s, e, pts) for (s, pts), e in zip(starts, ends, strict=True)], timings
