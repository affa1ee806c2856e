"""VideoFrameStylize: a clip (IMAGE batch) stylised with one style, in memory-sized chunks."""

from __future__ import annotations

import hashlib
import weakref

import torch

from ..ccpl_core.color import COLOR_METHODS
from ..ccpl_core.errors import InputError
from ..ccpl_core.pipeline import BYTES_PER_PIXEL
from ..ccpl_core.video.engine import DEFAULT_FEATURE_BLEND, ClipStylizer, VideoOptions
from . import comfy_bridge as cb
from .stylize import PRECISION_CHOICES, make_stylizer, style_images

STATISTICS = ("per-frame", "clip")
#: Prepared styles of recent runs, so VideoHelperSuite's meta-batch windows reuse one encoding.
#: Per model object (weakly held: a model that is gone takes its entry along; an id() could be
#: reused by a newly loaded model): the style key and the style prepared for it.
_STYLE_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Per node (unique_id): the meta-batch run, the settings and the clip state after its last
#: window, so the next window of the same run continues the temporal blending seamlessly.
_WINDOWS: dict[str, tuple[object, tuple, ClipStylizer]] = {}
_MAX_WINDOW_STATES = 8


def _style_key(precision: str, style: torch.Tensor) -> str:
    digest = hashlib.sha1(style.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
    return f"{precision}:{tuple(style.shape)}:{digest}"


class VideoFrameStylize:
    """Stylise the frames of a clip; the style is encoded once per clip."""

    CATEGORY = "image/style transfer (CCPL)"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "stylize_frames"
    DESCRIPTION = (
        "Video style transfer: frames in, frames out, chunked to fit memory. Works "
        "with VideoHelperSuite's Load Video / Video Combine and its meta-batch."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "sct_model": ("SCT_MODEL", {"tooltip": "From Load SCT Model."}),
                "frames": ("IMAGE", {"tooltip": "The clip as an IMAGE batch (one frame each)."}),
                "style": ("IMAGE", {"tooltip": "Style image (a batch is blended equally)."}),
                "alpha": (
                    "FLOAT",
                    {
                        "default": 1.0,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.01,
                        "tooltip": "Style strength.",
                    },
                ),
                "preserve_color": (
                    COLOR_METHODS,
                    {"default": "none", "tooltip": "Keep the frames' colours."},
                ),
                "style_size": (
                    "INT",
                    {
                        "default": 512,
                        "min": 0,
                        "max": 4096,
                        "step": 8,
                        "tooltip": "Style shorter side (0 = as is).",
                    },
                ),
                "content_statistics": (
                    STATISTICS,
                    {
                        "default": "per-frame",
                        "tooltip": "per-frame: like images; clip: normalise all frames with "
                        "the statistics of the whole batch (one look for the clip).",
                    },
                ),
            },
            "optional": {
                "precision": (
                    PRECISION_CHOICES,
                    {"default": "model", "tooltip": "'model' uses the loader's setting."},
                ),
                # new inputs go last: saved workflows map widget values by position
                "flow_blend": (
                    "FLOAT",
                    {
                        "default": 0.0,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.05,
                        "tooltip": "Temporal smoothing in image space: blend in the previous "
                        "stylised frame warped by optical flow where the flow is reliable "
                        "(0 = off). Smooth, but softens the style.",
                    },
                ),
                "feature_blend": (
                    "FLOAT",
                    {
                        "default": DEFAULT_FEATURE_BLEND,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.05,
                        "tooltip": "Temporal coherence in feature space: carry the previous "
                        "frame's features along the optical flow where it is reliable "
                        "(0 = off). Less flicker at full style strength.",
                    },
                ),
                "meta_batch": (
                    "VHS_BatchManager",
                    {
                        "tooltip": "VideoHelperSuite's Meta Batch Manager (the one Load Video "
                        "uses): each window then continues the previous window's temporal "
                        "blending, so there is no jump at window boundaries."
                    },
                ),
                "detail_blend": (
                    "FLOAT",
                    {
                        "default": 0.0,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.05,
                        "tooltip": "Temporal coherence of fine texture: also carry the "
                        "decoder's full-resolution activations along the optical flow, so "
                        "texture follows slow motion too (0 = off; 0.2 measured best). Least "
                        "flicker, slightly weaker style, decodes frames one at a time.",
                    },
                ),
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
        unique_id=None,
    ):
        if content_statistics not in STATISTICS:
            raise InputError(f"content_statistics: expected one of {STATISTICS}")
        options = VideoOptions(
            alpha=alpha,
            preserve_color=preserve_color,
            statistics=content_statistics,
            flow_blend=flow_blend,
            feature_blend=feature_blend,
            detail_blend=detail_blend,
        )
        options.validate()
        stylizer = make_stylizer(sct_model, precision)
        if not isinstance(frames, torch.Tensor) or frames.numel() == 0:
            raise InputError("frames: the clip has no frames")
        x = cb.image_to_bchw(frames)
        b, _, h, w = x.shape
        cb.free_memory_for(stylizer.device, min(b, 8) * h * w * BYTES_PER_PIXEL[4])
        styles = style_images(style, style_size)
        key = _style_key(str(stylizer.dtype), styles)
        cached = _STYLE_CACHE.get(sct_model.net)
        if cached is None or cached[0] != key:
            _STYLE_CACHE.clear()
            cached = _STYLE_CACHE[sct_model.net] = (
                key,
                stylizer.prepare_style([styles[i : i + 1] for i in range(styles.shape[0])]),
            )
        prepared = cached[1]
        run = _meta_batch_run(meta_batch)
        settings = (key, options, h, w)
        state_key = str(unique_id)
        saved = _WINDOWS.pop(state_key, None)
        stats = None
        progress = cb.progress_callback(b)
        # one preallocated output in ComfyUI's layout: the clip is never held twice
        result = torch.empty(b, h, w, 3, dtype=torch.float32, device=cb.output_device())
        try:
            if content_statistics == "clip":
                stats = stylizer.content_statistics(x, progress=lambda d, t: cb.check_interrupt())
            if saved is not None and saved[0] is run and saved[1] == settings:
                clip = saved[2]  # the next window of the same run: carry the state over
                clip.stylizer, clip.content_stats = stylizer, stats
            else:
                clip = ClipStylizer(stylizer, prepared, options, stats)
            clip(x, out=result.permute(0, 3, 1, 2), progress=_frames_progress(progress, b))
        finally:
            cb.cleanup(stylizer.device)
        if run is not None:  # kept only after a complete window; an error starts afresh
            while len(_WINDOWS) >= _MAX_WINDOW_STATES:
                _WINDOWS.pop(next(iter(_WINDOWS)))
            _WINDOWS[state_key] = (run, settings, clip)
        return (result,)


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
