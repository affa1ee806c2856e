"""Streaming video stylisation with temporal-coherence options.

Frames are read, stylised in batches and written one by one, so memory is bounded for clips of
any length. Options, each measured by ``ccpl eval temporal``:

* ``statistics``: ``per-frame`` (like images), ``clip`` (SCT content normalisation with the
  statistics of the whole clip: a first pass reads the clip once more), or ``running``
  (statistics of the frames so far, one pass);
* ``flow_blend``: warp the previous stylised frame with optical flow computed on the input
  frames (OpenCV DIS) and blend it in where the flow is reliable (forward-backward check).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from ..images import resize_short_side
from ..pipeline import FeatureMoments, PreparedStyle, Stylizer
from . import flow as flowlib
from .io import FrameSink, FrameSource, VideoInfo

STATISTICS = ("per-frame", "clip", "running")


@dataclass
class VideoOptions:
    alpha: float = 1.0
    preserve_color: str = "none"
    statistics: str = "clip"
    flow_blend: float = 0.0
    flow_preset: str = "medium"
    batch: int = 8
    size: int = 0

    def validate(self) -> None:
        if self.statistics not in STATISTICS:
            raise InputError(f"statistics must be one of {', '.join(STATISTICS)}")
        if not 0.0 <= self.flow_blend <= 1.0:
            raise InputError(f"flow blend strength must be in [0, 1], got {self.flow_blend}")
        if self.batch < 1:
            raise InputError(f"batch must be >= 1, got {self.batch}")


def _to_tensor(frames: list[np.ndarray], size: int) -> torch.Tensor:
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0
    return resize_short_side(x, size) if size else x


def output_info(info: VideoInfo, size: int) -> VideoInfo:
    if not size:
        return info
    probe = resize_short_side(torch.zeros(1, 1, info.height, info.width), size)
    return VideoInfo(info.frames, info.fps, probe.shape[-1], probe.shape[-2], info.has_audio)


class FlowBlender:
    """out_t = (1 - s*m) * stylised_t + s*m * warp(out_{t-1}), m = reliable-flow mask."""

    def __init__(self, strength: float, preset: str = "medium") -> None:
        self.strength = strength
        self.preset = preset
        self.prev_in: np.ndarray | None = None
        self.prev_out: np.ndarray | None = None

    def __call__(self, frame_in: np.ndarray, stylised: np.ndarray) -> np.ndarray:
        """Frames as float32 [H, W, 3] in [0, 1]."""
        out = stylised
        if self.strength > 0 and self.prev_in is not None:
            back = flowlib.flow(frame_in, self.prev_in, self.preset)  # t -> t-1
            fwd = flowlib.flow(self.prev_in, frame_in, self.preset)  # t-1 -> t
            mask = flowlib.occlusion_mask(back, fwd)[..., None] * self.strength
            warped = flowlib.warp(self.prev_out, back)
            out = (1.0 - mask) * stylised + mask * warped
        self.prev_in, self.prev_out = frame_in, out
        return out


def stylize_video(
    stylizer: Stylizer,
    source: FrameSource,
    sink: FrameSink,
    style: PreparedStyle,
    options: VideoOptions,
    progress: Callable[[int, int | None], None] | None = None,
) -> dict:
    """Stylise every frame of ``source`` into ``sink``; returns counts and throughput."""
    options.validate()
    t0 = time.perf_counter()
    clip_stats = None
    if options.statistics == "clip":
        moments = FeatureMoments()
        for chunk in _chunks(source, options.batch):
            stylizer.accumulate(_to_tensor(chunk, options.size), moments)
        clip_stats = moments.stats()
    running = FeatureMoments() if options.statistics == "running" else None
    blender = FlowBlender(options.flow_blend, options.flow_preset)
    done = 0
    for chunk in _chunks(source, options.batch):
        x = _to_tensor(chunk, options.size)
        stats = clip_stats
        if running is not None:
            stylizer.accumulate(x, running)
            stats = running.stats()
        out = stylizer.stylize(
            x,
            style,
            alpha=options.alpha,
            preserve_color=options.preserve_color,
            content_stats=stats,
        )
        frames_in = x.permute(0, 2, 3, 1).numpy()
        frames_out = out[:, :3].permute(0, 2, 3, 1).numpy()
        for fin, fout in zip(frames_in, frames_out, strict=True):
            blended = blender(fin, fout) if options.flow_blend > 0 else fout
            sink.write((np.clip(blended, 0, 1) * 255).round().astype(np.uint8))
        done += len(chunk)
        if progress is not None:
            progress(done, source.info.frames)
    if done == 0:
        raise InputError(f"{source.path} has no frames")
    seconds = time.perf_counter() - t0
    return {"frames": done, "seconds": seconds, "fps": done / seconds}


def _chunks(source: FrameSource, size: int):
    chunk: list[np.ndarray] = []
    for frame in source:
        chunk.append(frame)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
