"""VideoFrameStylize: a clip (IMAGE batch) stylised with one style, in memory-sized chunks."""

from __future__ import annotations

import dataclasses
import hashlib
import weakref

import torch

from ..ccpl_core.declared import from_values
from ..ccpl_core.errors import InputError
from ..ccpl_core.option_specs import (
    ALPHA,
    DETAIL_BLEND,
    FEATURE_BLEND,
    FLOW_BLEND,
    PALETTE,
    PRESERVE_COLOR,
    STATISTICS_OPTION,
    STYLE_SIZE,
    WCT,
)
from ..ccpl_core.video.engine import DEFAULT_FEATURE_BLEND, ClipStylizer, VideoOptions
from . import comfy_bridge as cb
from .inputs import comfy_input, run_precision_input
from .stylize import check_handle, make_stylizer, release, style_images

#: The node's statistics: the library's without running (the list saved workflows know).
#: ``running`` came last (saved workflows keep their choice by name)
STATISTICS = STATISTICS_OPTION.choices
#: Prepared styles of recent runs, so VideoHelperSuite's meta-batch windows reuse one encoding.
#: Per model object (weakly held: a model that is gone takes its entry along; an id() could be
#: reused by a newly loaded model): the style key and the style prepared for it (on the CPU).
_STYLE_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Per node (unique_id): the meta-batch run, the settings and the clip state after its last
#: window, so the next window of the same run continues the temporal blending seamlessly.
#: States are parked on the CPU between windows (:meth:`ClipStylizer.to`).
_WINDOWS: dict[str, tuple[object, tuple, ClipStylizer]] = {}
_MAX_WINDOW_STATES = 8
#: Where state kept between runs lives: ComfyUI's unload button and free_memory only reach the
#: models it manages, so nothing this pack keeps after a node returns may hold device memory.
PARKING = torch.device("cpu")


def _style_key(precision: str, style: torch.Tensor) -> str:
    digest = hashlib.sha1(style.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
    return f"{precision}:{tuple(style.shape)}:{digest}"


class VideoFrameStylize:
    """Stylise the frames of a clip; the style is encoded once per clip."""

    CATEGORY = "image/style transfer (CCPL)"
    SEARCH_ALIASES = (
        "style transfer",
        "video style transfer",
        "stylize video",
        "stylize frames",
        "neural style",
        "deflicker",
        "temporal coherence",
        "ccpl",
    )
    RETURN_TYPES = ("IMAGE",)
    OUTPUT_TOOLTIPS = ("The stylised frames, in the clip's order and size.",)
    FUNCTION = "stylize_frames"
    DESCRIPTION = (
        "Video style transfer: frames in, frames out, chunked to fit memory. Works "
        "with VideoHelperSuite's Load Video / Video Combine and its meta-batch."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "sct_model": ("SCT_MODEL", {"tooltip": "From Load Style Transfer Model."}),
                "frames": ("IMAGE", {"tooltip": "The clip as an IMAGE batch (one frame each)."}),
                "style": ("IMAGE", {"tooltip": "Style image (a batch is blended equally)."}),
                "alpha": comfy_input(ALPHA),
                "preserve_color": comfy_input(PRESERVE_COLOR),
                "style_size": comfy_input(STYLE_SIZE),
                "content_statistics": comfy_input(
                    STATISTICS_OPTION,
                    choices=STATISTICS,
                    tooltip="per-frame: like images; clip: normalise all frames with the "
                    "statistics of the frames this node receives (one look for them; with a "
                    "meta-batch, each window on its own); running: the statistics of the frames "
                    "so far, carried across meta-batch windows (one look for the whole clip "
                    "without reading it twice).",
                ),
            },
            "optional": {
                "precision": run_precision_input(),
                # new inputs go last: saved workflows map widget values by position
                "flow_blend": comfy_input(FLOW_BLEND),
                "feature_blend": comfy_input(FEATURE_BLEND),
                "meta_batch": (
                    "VHS_BatchManager",
                    {
                        "tooltip": "VideoHelperSuite's Meta Batch Manager (the one Load Video "
                        "uses): each window then continues the previous window's temporal "
                        "blending (and running statistics), so there is no jump at window "
                        "boundaries (clip statistics remain per window)."
                    },
                ),
                "detail_blend": comfy_input(DETAIL_BLEND),
                "palette": comfy_input(PALETTE),
                "wct": comfy_input(WCT),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    def stylize_frames(
        self,
        sct_model,
        frames,
        style,
        alpha,
        preserve_color,
        style_size,
        content_statistics,
        precision="model",
        flow_blend=0.0,
        feature_blend=DEFAULT_FEATURE_BLEND,
        meta_batch=None,
        detail_blend=0.0,
        palette=PALETTE.default,
        wct=WCT.default,
        unique_id=None,
    ):
        if content_statistics not in STATISTICS:
            raise InputError(f"content_statistics: expected one of {STATISTICS}")
        options = from_values(VideoOptions, locals(), statistics=content_statistics)
        check_handle(sct_model)
        if not isinstance(frames, torch.Tensor) or frames.numel() == 0:
            raise InputError("frames: the clip has no frames")
        x = cb.image_to_bchw(frames)
        b, _, h, w = x.shape
        styles = style_images(style, style_size)
        shapes = [(b, h, w), (1, *styles.shape[-2:])]
        run = _meta_batch_run(meta_batch)
        # one preallocated output in ComfyUI's layout: the clip is never held twice
        result = torch.empty(b, h, w, 3, dtype=torch.float32, device=cb.output_device())
        stylizer = make_stylizer(sct_model, precision, shapes, detail=detail_blend > 0)
        key = _style_key(str(stylizer.dtype), styles)
        settings = (key, options, h, w)
        state_key = str(unique_id)
        saved = _WINDOWS.pop(state_key, None)
        clip = None
        try:
            cached = _STYLE_CACHE.get(sct_model.net)
            if cached is None or cached[0] != key:
                _STYLE_CACHE.clear()
                prepared = stylizer.prepare_style([styles[i : i + 1] for i in range(len(styles))])
                cached = _STYLE_CACHE[sct_model.net] = (key, _moved(prepared, PARKING))
            stats = None
            if content_statistics == "clip":
                stats = stylizer.content_statistics(x, progress=lambda d, t: cb.check_interrupt())
            if saved is not None and saved[0] is run and saved[1] == settings:
                clip = saved[2]  # the next window of the same run: carry the state over
            else:
                clip = ClipStylizer(cached[1], options, find_cuts=True)
            progress = cb.progress_callback(b)
            out = result.permute(0, 3, 1, 2)
            clip(stylizer, x, content_stats=stats, out=out, progress=_frames_progress(progress, b))
        finally:
            if clip is not None:
                clip.to(PARKING)  # the state waits for the next window on the CPU
            release(stylizer)
        if run is not None:  # kept only after a complete window; an error starts afresh
            while len(_WINDOWS) >= _MAX_WINDOW_STATES:
                _WINDOWS.pop(next(iter(_WINDOWS)))
            _WINDOWS[state_key] = (run, settings, clip)
        return (result,)


def _moved(value, device: torch.device):
    """``value`` with every tensor in it (through tuples, lists and dataclasses) on ``device``."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if type(value) in (tuple, list):
        return type(value)(_moved(v, device) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [f.name for f in dataclasses.fields(value) if f.init]
        return dataclasses.replace(value, **{n: _moved(getattr(value, n), device) for n in fields})
    return value


def _meta_batch_run(meta_batch) -> object | None:
    """An object that is the same for every window of one meta-batch run and new for the next.

    VideoHelperSuite's BatchManager replaces its ``inputs`` dict whenever it resets (at the start
    of a run and after the last window), so holding that dict identifies the run.
    """
    if meta_batch is None:
        return None
    run = getattr(meta_batch, "inputs", None)
    if not isinstance(run, dict):
        raise InputError(
            "meta_batch: expected VideoHelperSuite's Meta Batch Manager output "
            f"(VHS_BatchManager), got {type(meta_batch).__name__}"
        )
    return run


def _frames_progress(update, frames: int):
    """Report work steps as frames done (the core counts tiles and chunks)."""

    def report(done: int, total: int) -> None:
        update(round(frames * done / max(1, total)), frames)

    return report
