"""Streaming video stylisation with temporal-coherence options.

Frames are read, stylised in batches and written one by one, so memory is bounded for clips of
any length. Options, each measured by ``ccpl eval temporal``:

* ``statistics``: ``per-frame`` (like images), ``clip`` (SCT content normalisation with the
  statistics of the whole clip: a first pass reads the clip once more), or ``running``
  (statistics of the frames so far, one pass);
* ``feature_blend``: warp the previous frame's fused features with optical flow computed on
  the input frames (OpenCV DIS) and blend them in where the flow is reliable (forward-backward
  check) before decoding: least flicker at unchanged style strength (see benchmarks);
* ``detail_blend``: the same with the decoder's full-resolution activations (before its last two
  convolutions), after the feature blend: texture also follows slow, sub-pixel motion, which
  the 1/8-resolution features cannot carry; the least flicker for a small loss of style strength
  (frames are decoded one at a time, and the previous frame's activations are kept: 64 values
  per pixel);
* ``flow_blend``: the same in image space on the stylised frames (stronger smoothing, but it
  blurs texture and so weakens the style).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import InputError
from ..images import planned_size, resize_short_side
from ..models import ContentStats
from ..pipeline import FeatureMoments, PreparedStyle, Progress, Stylizer
from .flow import FLOW_PRESETS
from .io import FrameSink, FrameSource, VideoInfo
from .temporal import FEATURE_FLOW_SIDE, FlowBlender, FlowCarry, Motion, estimate_motion

STATISTICS = ("per-frame", "clip", "running")
#: Default feature-blend strength: on real clips it cuts the short-term warping error by about a
#: third at unchanged style strength (benchmarks/results/video_coherence_cpu.json).
DEFAULT_FEATURE_BLEND = 0.95
#: Pixels per streamed chunk at most (eight 720p frames, three 1080p, one 4K): the network batches
#: within a chunk, and the chunk's input and output buffers are what a long clip costs in RAM.
CHUNK_PIXELS = 8 * 1280 * 720


def _declared(name: str):
    """A field whose default is the declared option's (:mod:`ccpl_core.option_specs`), read when
    an instance is made: the declarations read STATISTICS and DEFAULT_FEATURE_BLEND from here."""

    def default():
        from .. import option_specs

        return option_specs.ALL[name].default

    return field(default_factory=default)


@dataclass
class VideoOptions:
    """The coherence and quality options of one clip; defaults as declared for every surface.

    ``tile``: tile size in pixels for frames too large to stylise at once (None = automatic from
    free memory, 0 = never tile), like ``Stylizer.stylize(tile=...)``.
    """

    alpha: float = _declared("ALPHA")
    preserve_color: str = _declared("PRESERVE_COLOR")
    statistics: str = _declared("STATISTICS_OPTION")
    flow_blend: float = _declared("FLOW_BLEND")
    feature_blend: float = _declared("FEATURE_BLEND")
    detail_blend: float = _declared("DETAIL_BLEND")
    flow_preset: str = _declared("FLOW_PRESET")
    batch: int = _declared("BATCH")
    size: int = _declared("FRAME_SIZE")
    tile: int | None = _declared("TILE")


    def validate(self) -> None:
        if self.statistics not in STATISTICS:
            raise InputError(f"statistics must be one of {', '.join(STATISTICS)}")
        if not 0.0 <= self.flow_blend <= 1.0:
            raise InputError(f"flow blend strength must be in [0, 1], got {self.flow_blend}")
        if not 0.0 <= self.feature_blend <= 1.0:
            raise InputError(f"feature blend strength must be in [0, 1], got {self.feature_blend}")
        if not 0.0 <= self.detail_blend <= 1.0:
            raise InputError(f"detail blend strength must be in [0, 1], got {self.detail_blend}")
        if self.flow_preset not in FLOW_PRESETS:
            raise InputError(f"flow preset must be one of {', '.join(FLOW_PRESETS)}")
        if self.batch < 1:
            raise InputError(f"batch must be >= 1, got {self.batch}")


def _to_tensor(frames: list[np.ndarray], size: int) -> torch.Tensor:
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div_(255.0)
    return resize_short_side(x, size) if size else x


def chunk_frames(batch: int, info: VideoInfo) -> int:
    """Frames per chunk: ``batch``, fewer for large frames so that host buffers stay small."""
    return max(1, min(batch, CHUNK_PIXELS // max(1, info.width * info.height)))


def output_info(info: VideoInfo, size: int) -> VideoInfo:
    """The stylised clip's description: frames resized like :func:`resize_short_side` resizes.

    Computed from the numbers alone (no frame-sized probe tensor, which for a 16K source would
    allocate gigabytes just to read its shape).
    """
    if not size:
        return info
    height, width = planned_size(info.height, info.width, size)
    return VideoInfo(info.frames, info.fps, width, height, info.has_audio)


class ClipStylizer:
    """Stylise consecutive chunks of one clip with the coherence options, carrying state over.

    The streaming engine calls it once per chunk; VideoFrameStylize calls it once with the whole
    clip (the stylizer then chunks it to fit memory). Flow is computed on the input frames, at
    most :data:`temporal.FEATURE_FLOW_SIDE` for feature blending and at full size for image
    blending, one frame pair at a time, so nothing grows with the clip length.
    """

    def __init__(
        self,
        stylizer: Stylizer,
        style: PreparedStyle,
        options: VideoOptions,
        content_stats: ContentStats | None = None,
    ) -> None:
        options.validate()
        self.stylizer, self.style, self.options = stylizer, style, options
        self.content_stats = content_stats
        self.features = FlowCarry(options.feature_blend) if options.feature_blend else None
        self.detail = FlowCarry(options.detail_blend) if options.detail_blend else None
        self.image = FlowBlender(options.flow_blend) if options.flow_blend else None
        self.index = 0  # clip index of the next frame
        self._last: np.ndarray | None = None  # previous chunk's last input frame

    @torch.inference_mode()
    def __call__(
        self,
        frames: torch.Tensor,
        out: torch.Tensor | None = None,
        progress: Progress | None = None,
    ) -> torch.Tensor:
        """``frames`` float [B, 3, H, W] in [0, 1] (CPU); returns the stylised [B, 3, H, W]."""
        hwc = frames[:, :3].float().cpu().permute(0, 2, 3, 1).numpy()  # views when possible
        h, w = hwc.shape[1:3]
        motions: dict[int, Motion | None] = {}  # the current chunk's, by index in ``frames``

        def motion(i: int, max_side: int | None) -> Motion | None:
            prev = hwc[i - 1] if i > 0 else self._last
            if prev is None:
                return None
            return estimate_motion(prev, hwc[i], self.options.flow_preset, max_side)

        def before_decoding(fused: torch.Tensor, first: int) -> torch.Tensor:
            """A chunk (or its retry) is about to be decoded: find its motion, mark the detail
            carry's restart point, blend the features."""
            # frame pairs are independent and OpenCV releases the GIL: one thread per pair
            indices = range(first, first + len(fused))
            found = _flow_pool().map(lambda i: motion(i, FEATURE_FLOW_SIDE), indices)
            motions.clear()
            motions.update(zip(indices, found, strict=True))
            if self.detail is not None:
                self.detail.begin(self.index + first)
            if self.features is None:
                return fused
            return self.features(fused, self.index + first, [motions[i] for i in indices])

        def blend_detail(act: torch.Tensor, i: int) -> torch.Tensor:
            m = motions[i]
            if m is not None:
                m = m.padded(h, w, *act.shape[-2:])
            return self.detail.step(act[0], m)[None]

        carry = self.features is not None or self.detail is not None
        result = self.stylizer.stylize(
            frames,
            self.style,
            alpha=self.options.alpha,
            preserve_color=self.options.preserve_color,
            content_stats=self.content_stats,
            out=out,
            progress=progress,
            feature_hook=before_decoding if carry else None,
            detail_hook=blend_detail if self.detail is not None else None,
        )
        if self.image is not None:
            for i in range(len(frames)):
                stylised = result[i, :3].permute(1, 2, 0).numpy().copy()
                blended = self.image(stylised, motion(i, None))
                result[i, :3] = torch.from_numpy(blended).permute(2, 0, 1).clamp_(0, 1)
        self._last = hwc[-1].copy()
        self.index += len(frames)
        return result


@functools.cache
def _flow_pool() -> ThreadPoolExecutor:
    """Threads for optical flow, shared by all clips (flow runs while the network waits)."""
    return ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="flow")


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
    batch = chunk_frames(options.batch, source.info)
    clip_stats = None
    if options.statistics == "clip":
        moments = FeatureMoments()
        for chunk in _chunks(source, batch):
            stylizer.accumulate(_to_tensor(chunk, options.size), moments)
        clip_stats = moments.stats()
    running = FeatureMoments() if options.statistics == "running" else None
    clip = ClipStylizer(stylizer, style, options, clip_stats)
    done = 0
    for chunk in _chunks(source, batch):
        x = _to_tensor(chunk, options.size)
        if running is not None:
            stylizer.accumulate(x, running)
            clip.content_stats = running.stats()
        out = clip(x)
        for frame in out[:, :3].permute(0, 2, 3, 1).numpy():
            sink.write((np.clip(frame, 0, 1) * 255).round().astype(np.uint8))
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
