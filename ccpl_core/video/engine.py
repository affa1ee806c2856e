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

import copy
import dataclasses
import functools
import itertools
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from ..declared import Option, check_fields, declared
from ..edges import content_edges
from ..errors import InputError
from ..images import planned_size, resize_short_side
from ..models import ContentStats
from ..palette import ColourMap
from ..pipeline import (
    ALPHA,
    PALETTE,
    PRESERVE_COLOR,
    WCT,
    FeatureMoments,
    PreparedStyle,
    Progress,
    Stylizer,
    check_statistics,
    color_method,
    finish,
    output_buffer,
    palette_share,
)
from ..planner import TILE
from .flow import FLOW_PRESETS
from .io import FrameSink, FrameSource, Timing, VideoInfo
from .shots import CutFinder, Shot, is_cut, shot_frame
from .temporal import (
    FEATURE_FLOW_SIDE,
    Motion,
    blend_images,
    carry_along_flow,
    estimate_motion,
    flow_frame,
)

STATISTICS = ("per-frame", "clip", "running")
#: Default feature-blend strength: on real clips it cuts the short-term warping error by about a
#: third at unchanged style strength (benchmarks/results/video_coherence_cpu.json).
DEFAULT_FEATURE_BLEND = 0.95
#: Pixels per streamed chunk at most (eight 720p frames, three 1080p, one 4K): the network batches
#: within a chunk, and the chunk's input and output buffers are what a long clip costs in RAM.
CHUNK_PIXELS = 8 * 1280 * 720


def _strength(name: str, default: float, help: str) -> Option:
    return Option(name, default, help, "float", low=0.0, high=1.0, step=0.05)


STATISTICS_OPTION = Option(
    "statistics",
    STATISTICS[0],
    "content statistics: per-frame (like images), clip (one normalisation for the whole clip; "
    "reads the input twice) or running (the frames so far)",
    "choice",
    choices=STATISTICS,
)
FEATURE_BLEND = _strength(
    "feature_blend",
    DEFAULT_FEATURE_BLEND,
    "carry the previous frame's features along the optical flow where it is reliable: less "
    "flicker at unchanged style strength; 0 = off",
)
DETAIL_BLEND = _strength(
    "detail_blend",
    0.0,
    "also carry the decoder's full-resolution activations along the flow: texture follows slow "
    "motion too; least flicker, slightly weaker style, frames decoded one at a time; 0 = off, "
    "0.2 measured best",
)
FLOW_BLEND = _strength(
    "flow_blend",
    0.0,
    "blend in the previous stylised frame warped by optical flow where the flow is reliable: "
    "smooth, but softens the style; 0 = off",
)
FLOW_PRESET = Option(
    "flow_preset",
    "medium",
    "optical flow: a DIS preset (speed against accuracy) or farneback",
    "choice",
    choices=tuple(FLOW_PRESETS),
)
BATCH = Option("batch", 8, "frames per network batch", "int", low=1)
FRAME_SIZE = Option(
    "size", 0, "resize the frames' shorter side to this many pixels; 0 keeps it", "int", low=0
)


@dataclass
class VideoOptions:
    """The coherence and quality options of one clip, declared here for every surface and
    validated on construction (and by :meth:`validate` after a change): one InputError line
    naming the option.

    ``tile``: tile size in pixels for frames too large to stylise at once (None = automatic from
    free memory, 0 = never tile), like ``Stylizer.stylize(tile=...)``.
    """

    alpha: float = declared(ALPHA)
    palette: float = declared(PALETTE)
    wct: float = declared(WCT)
    preserve_color: str = declared(PRESERVE_COLOR)
    statistics: str = declared(STATISTICS_OPTION)
    flow_blend: float = declared(FLOW_BLEND)
    feature_blend: float = declared(FEATURE_BLEND)
    detail_blend: float = declared(DETAIL_BLEND)
    flow_preset: str = declared(FLOW_PRESET)
    batch: int = declared(BATCH)
    size: int = declared(FRAME_SIZE)
    tile: int | None = declared(TILE)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        check_fields(self)


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
    return dataclasses.replace(info, width=width, height=height)


@dataclass
class ClipState:
    """What one frame of a clip passes to the next; it changes only after frames are done.

    Parked between windows (ComfyUI meta-batches) with :meth:`to`.
    """

    index: int = 0  # clip index of the next frame
    #: the last frame done, as grey flow frames by flow size (None: full size)
    flow_frames: dict[int | None, np.ndarray] = field(default_factory=dict)
    features: torch.Tensor | None = None  # its blended fused features [C, h, w]
    detail: torch.Tensor | None = None  # its blended decoder activations [64, H', W']
    image: np.ndarray | None = None  # its output [H, W, 3] float32 (image-space blending)
    moments: FeatureMoments | None = None  # feature moments of the frames so far ('running')
    #: the palette step's map, built from the clip's first frame and kept for all of them
    colour_map: ColourMap | None = None
    #: the last frame done as the scene-cut test sees it (:func:`.shots.shot_frame`)
    shot_frame: np.ndarray | None = None

    def to(self, device: torch.device | str) -> ClipState:
        """This state with its tensors on ``device``."""

        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)

        moments = self.moments
        if moments is not None:
            moments = copy.copy(moments)
            moments.total, moments.total_sq = move(moments.total), move(moments.total_sq)
            moments.outer = move(moments.outer)
        colour_map = None if self.colour_map is None else self.colour_map.to(device)
        return dataclasses.replace(
            self,
            features=move(self.features),
            detail=move(self.detail),
            moments=moments,
            colour_map=colour_map,
        )


class ClipStylizer:
    """Stylise consecutive frames of one clip with the coherence options, carrying state over.

    The streaming engine calls it once per chunk of frames; VideoFrameStylize calls it once with
    a whole clip (or window). Each call composes the stages: optical flow of the frames (in
    threads, while the network encodes), encode, fuse, carry the previous frame's features along
    the flow, decode (carrying its activations too with ``detail_blend``), finish, and blend in
    image space with ``flow_blend``. Flow is computed on the input frames, at most
    :data:`temporal.FEATURE_FLOW_SIDE` for the feature and detail blends and at full size for the
    image blend, one frame pair at a time, so nothing grows with the clip length.
    """

    def __init__(
        self,
        style: PreparedStyle,
        options: VideoOptions,
        state: ClipState | None = None,
        *,
        find_cuts: bool = False,
    ) -> None:
        """``find_cuts``: look for scene cuts in the frames of each call and start a fresh
        state at each (the streaming engine finds them itself, to cut its chunks there)."""
        options.validate()
        self.style, self.options = style, options
        self.find_cuts = find_cuts
        self.state = state or ClipState()
        if options.statistics == "running" and self.state.moments is None:
            self.state.moments = FeatureMoments(covariance=options.wct > 0)

    def new_shot(self) -> None:
        """Forget what the frames so far pass on (after a scene cut)."""
        self.state = ClipState(index=self.state.index, shot_frame=self.state.shot_frame)
        if self.options.statistics == "running":
            self.state.moments = FeatureMoments(covariance=self.options.wct > 0)

    def to(self, device: torch.device | str) -> ClipStylizer:
        """Park the carried state and the style on ``device`` (e.g. the CPU between windows)."""
        self.state = self.state.to(device)
        style = self.style
        images = [i.to(device) for i in style.images]
        self.style = dataclasses.replace(style, code=style.code.to(device), images=images)
        return self

    @torch.inference_mode()
    def __call__(
        self,
        stylizer: Stylizer,
        frames: torch.Tensor,
        *,
        content_stats: ContentStats | None = None,
        out: torch.Tensor | None = None,
        progress: Progress | None = None,
    ) -> torch.Tensor:
        """Stylise the next ``frames`` float [B, 3, H, W] in [0, 1] of the clip.

        ``content_stats``: statistics of the whole clip (statistics 'clip'); ``out``: a
        preallocated [B, 3, H, W] float buffer (a view is fine); ``progress`` gets frames done.
        Returns the stylised frames, float32 [B, 3, H, W] on the frames' device.
        """
        b, _, h, w = frames.shape
        stylizer.check_content_size(h, w, "frames")
        check_statistics(content_stats, self.options.wct)
        out = output_buffer(out, b, 3, h, w, frames.device)
        chunk = stylizer.planner.chunk(b, h, w)
        small = self._shot_frames(frames) if self.find_cuts else []
        cuts = [i for i, f in enumerate(small) if self._cut_before(i, small)]
        bounds = sorted({*range(0, b, chunk), *cuts, b})
        for start, stop in itertools.pairwise(bounds):
            if start in cuts:
                self.new_shot()
            out[start:stop] = self._frames(stylizer, frames[start:stop, :3].float(), content_stats)
            if small:
                self.state.shot_frame = small[stop - 1]
            if progress is not None:
                progress(stop, b)
        return out

    def _shot_frames(self, frames: torch.Tensor) -> list[np.ndarray]:
        hwc = frames[:, :3].float().mul(255).round_().clamp_(0, 255).to(torch.uint8)
        return [shot_frame(f) for f in hwc.permute(0, 2, 3, 1).cpu().numpy()]

    def _cut_before(self, i: int, small: list[np.ndarray]) -> bool:
        prev = small[i - 1] if i else self.state.shot_frame
        return prev is not None and is_cut(prev, small[i])

    def _frames(
        self, st: Stylizer, rgb: torch.Tensor, clip_stats: ContentStats | None
    ) -> torch.Tensor:
        opt, state, size = self.options, self.state, tuple(rgb.shape[-2:])
        method = color_method(opt.preserve_color)
        flows = self._flow_frames(rgb)  # threads start now and run while the network encodes
        feat = st.encode(rgb, opt.tile)
        moments = copy.copy(state.moments)  # the running statistics with these frames
        if moments is not None:
            moments.add(feat)
        stats = clip_stats or (
            moments.stats() if moments else ContentStats.of(feat, covariance=opt.wct > 0)
        )
        fused = st.fuse(feat, st.style_for(self.style, rgb, method), stats, opt.alpha, opt.wct)
        del feat
        motions = self._motions(flows, FEATURE_FLOW_SIDE)
        if opt.feature_blend:
            fused = carry_along_flow(fused, state.features, motions, opt.feature_blend)
        if opt.detail_blend:
            result = torch.empty(len(rgb), 3, *size, dtype=torch.float32, device=fused.device)
            detail = state.detail
            for i in range(len(rgb)):
                act = st.decode_head(fused[i : i + 1], size, opt.tile)
                m = motions[i].padded(*size, *act.shape[-2:]) if motions[i] else None
                act = carry_along_flow(act, detail, [m], opt.detail_blend)
                st.decode_tail(act, size, opt.tile, out=result[i : i + 1])
                detail = act[0]
        else:
            result = st.decode(fused, size, opt.tile)
        if st.spec.content_edges:
            result = content_edges(result, rgb)
        share = palette_share(opt.palette, opt.alpha, method)
        colour_map = state.colour_map
        if share:  # one map for the whole clip: a colour moves the same way in every frame
            colour_map = colour_map or ColourMap.toward(result[0], self.style.palette)
            for i, image in enumerate(result):
                result[i] = colour_map.apply(image, share)
        result = finish(result, rgb, method).cpu()
        image = None
        if opt.flow_blend:
            result, image = self._blend_images(result, self._motions(flows, None))
        # the frames are done: only now does the state move on
        state.features = fused[-1] if opt.feature_blend else None
        state.detail = detail if opt.detail_blend else None
        state.flow_frames = {side: frames[-1] for side, frames in flows.items()}
        state.image = image
        state.moments = moments
        state.colour_map = colour_map
        state.index += len(rgb)
        return result

    def _flow_frames(self, rgb: torch.Tensor) -> dict[int | None, list]:
        """Per flow size, the grey flow frames (as futures) of the previous frame and ``rgb``."""
        sides = []
        if self.options.feature_blend or self.options.detail_blend:
            sides.append(FEATURE_FLOW_SIDE)
        if self.options.flow_blend:
            sides.append(None)
        if not sides:
            return {}
        hwc = rgb.cpu().permute(0, 2, 3, 1).numpy()  # views when possible
        pool = _flow_pool()
        return {
            side: [self.state.flow_frames.get(side)]
            + [pool.submit(flow_frame, frame, side) for frame in hwc]
            for side in sides
        }

    def _motions(self, flows: dict, side: int | None) -> list[Motion | None]:
        """Motion of each frame from the one before it (None for a clip's first frame)."""
        if side not in flows:
            return []
        frames = flows[side]
        for i, f in enumerate(frames):
            frames[i] = f.result() if isinstance(f, Future) else f
        preset = self.options.flow_preset

        def pair(i: int) -> Motion | None:
            prev = frames[i]
            return None if prev is None else estimate_motion(prev, frames[i + 1], preset)

        # frame pairs are independent and OpenCV releases the GIL: one thread per pair
        return list(_flow_pool().map(pair, range(len(frames) - 1)))

    def _blend_images(
        self, result: torch.Tensor, motions: list[Motion | None]
    ) -> tuple[torch.Tensor, np.ndarray | None]:
        """Image-space blending of finished frames; returns them and the last one's output."""
        prev = self.state.image
        for i, motion in enumerate(motions):
            stylised = result[i].permute(1, 2, 0).numpy().copy()
            prev = blend_images(stylised, prev, motion, self.options.flow_blend)
            result[i] = torch.from_numpy(prev).permute(2, 0, 1).clamp_(0, 1)
        return result, prev


@functools.cache
def _flow_pool() -> ThreadPoolExecutor:
    """Threads for optical flow, shared by all clips (flow runs while the network works)."""
    return ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="flow")


def stylize_video(
    stylizer: Stylizer,
    source: FrameSource,
    sink: FrameSink,
    style: PreparedStyle,
    options: VideoOptions,
    progress: Callable[[int, int | None], None] | None = None,
    *,
    shot: Shot | None = None,
    clip_stats: ContentStats | None = None,
) -> dict:
    """Stylise every frame of ``source`` into ``sink`` and publish it; returns counts and
    throughput.

    Reading the next chunk and writing the last one run in threads beside the network. Each
    frame goes out with its source timestamps. The temporal state starts afresh at every scene
    cut (:mod:`.shots`). ``shot``: only that shot's frames (the shot-parallel engine), with
    ``clip_stats`` the whole clip's statistics when ``options.statistics`` is 'clip'. On success
    the sink is closed (the output appears complete); on any failure or stop it is aborted
    (nothing appears).
    """
    try:
        result = _stream(stylizer, source, sink, style, options, progress, shot, clip_stats)
        sink.close()
    except BaseException:
        sink.abort()
        raise
    return result


def clip_moments(
    stylizer: Stylizer, source: FrameSource, options: VideoOptions, shot: Shot | None = None
) -> FeatureMoments:
    """Feature moments of the clip's frames (or one shot's), for statistics 'clip'.

    Chunked as :func:`stylize_video` chunks, so that moments of shots added in order come to
    what one pass over the clip gives."""
    moments = FeatureMoments(covariance=options.wct > 0)
    for chunk, _, _ in _chunks(source, chunk_frames(options.batch, source.info), shot):
        stylizer.accumulate(_to_tensor(chunk, options.size), moments)
    return moments


def _stream(
    stylizer: Stylizer,
    source: FrameSource,
    sink: FrameSink,
    style: PreparedStyle,
    options: VideoOptions,
    progress: Callable[[int, int | None], None] | None,
    shot: Shot | None,
    clip_stats: ContentStats | None,
) -> dict:
    options.validate()
    t0 = time.perf_counter()
    if options.statistics == "clip" and clip_stats is None:
        clip_stats = clip_moments(stylizer, source, options, shot).stats()
    clip = ClipStylizer(style, options)
    done = 0
    total = len(shot) if shot is not None else source.info.frames
    chunks = _chunks(source, chunk_frames(options.batch, source.info), shot)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="write") as writer:
        written: Future | None = None
        for chunk, timings, new_shot in _read_ahead(chunks):
            if new_shot:  # a scene cut: nothing of the last shot carries over
                clip = ClipStylizer(style, options)
            out = clip(stylizer, _to_tensor(chunk, options.size), content_stats=clip_stats)
            if written is not None:
                written.result()
            written = writer.submit(_write, sink, out, timings)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        if written is not None:
            written.result()
    if done == 0:
        raise InputError(f"{source.path} has no frames")
    seconds = time.perf_counter() - t0
    return {"frames": done, "seconds": seconds, "fps": done / seconds}


def _write(sink: FrameSink, frames: torch.Tensor, timings: list[Timing | None]) -> None:
    pixels = frames.mul(255).round_().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for frame, timing in zip(pixels, timings, strict=True):
        sink.write(frame, timing)


#: Frames, their timings, and whether the first of them starts a new shot after a cut.
Chunk = tuple[list[np.ndarray], list[Timing | None], bool]


def _read_ahead(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """``chunks``, each read in a thread while the caller works on the one before."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read") as reader:
        nxt = reader.submit(next, chunks, None)
        while (chunk := nxt.result()) is not None:
            nxt = reader.submit(next, chunks, None)
            yield chunk


def _chunks(source: FrameSource, size: int, shot: Shot | None = None) -> Iterator[Chunk]:
    """``size`` frames at a time with their timings, a chunk ending early at a scene cut so
    that the next shot starts a chunk of its own (as it does when shots run apart). ``shot``:
    that shot's frames only (it has no cut inside)."""
    chunk: list[np.ndarray] = []
    timings: list[Timing | None] = []
    new_shot = False
    if shot is None:
        frames, find_cut = source.timed(), CutFinder()
    else:
        frames, find_cut = source.timed(shot.start, shot.stop, shot.pts), None
    for frame, timing in frames:
        if find_cut is not None and find_cut(frame):
            if chunk:
                yield chunk, timings, new_shot
            chunk, timings, new_shot = [], [], True
        chunk.append(frame)
        timings.append(timing)
        if len(chunk) == size:
            yield chunk, timings, new_shot
            chunk, timings, new_shot = [], [], False
    if chunk:
        yield chunk, timings, new_shot
