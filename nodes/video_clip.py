"""VideoStylize: core VIDEO in, VIDEO out, streamed file to file (frame rate and audio kept).

A separate node from Video Frames Style Transfer (IMAGE batches) because the two differ in what they
hold: this one never has more than a chunk of frames in memory, whatever the clip's length, and
returns a video that Save Video writes as it is; the IMAGE node stays for graphs that edit frames.
"""

from __future__ import annotations

from ..ccpl_core.declared import from_values
from ..ccpl_core.images import check_pixels, planned_size
from ..ccpl_core.option_specs import (
    ALPHA,
    DETAIL_BLEND,
    FEATURE_BLEND,
    FLOW_BLEND,
    FRAME_SIZE,
    PALETTE,
    PRESERVE_COLOR,
    STATISTICS_OPTION,
    STYLE_SIZE,
    WCT,
)
from ..ccpl_core.video import FrameSource, VideoOptions
from ..ccpl_core.video.engine import DEFAULT_FEATURE_BLEND
from ..ccpl_core.video.files import stylize_clip_file
from . import comfy_bridge as cb
from .inputs import comfy_input, run_precision_input
from .stylize import check_handle, make_stylizer, release, style_images

#: One network step's memory on the CPU: a clip streams through ComfyUI's process, which holds
#: its other models in the same RAM (measured: a 720p clip peaks at 2.1 GB with this, 3.4 GB with
#: the library's 1.5 GiB default; docs/benchmarks.md). Results do not depend on it (tiling is
#: exact), only the speed a little.
CPU_STEP_BYTES = 700 * 2**20


class VideoStylize:
    """Stylise a whole video with one style, streaming; the style is encoded once."""

    CATEGORY = "image/style transfer (CCPL)"
    RETURN_TYPES = ("VIDEO",)
    OUTPUT_TOOLTIPS = ("The stylised video, with the source's frame rate and sound.",)
    FUNCTION = "stylize_video"
    SEARCH_ALIASES = (
        "style transfer",
        "video style transfer",
        "stylize video",
        "neural style",
        "deflicker",
        "temporal coherence",
        "ccpl",
    )
    DESCRIPTION = (
        "Video style transfer, VIDEO in and VIDEO out (Load Video -> this -> Save Video): "
        "frames stream from the file and back, so memory stays at a few frames however long "
        "the clip; frame rate and audio are kept."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "sct_model": ("SCT_MODEL", {"tooltip": "From Load Style Transfer Model."}),
                "video": ("VIDEO", {"tooltip": "The clip, e.g. from Load Video."}),
                "style": ("IMAGE", {"tooltip": "Style image (a batch is blended equally)."}),
                "alpha": comfy_input(ALPHA),
                "preserve_color": comfy_input(PRESERVE_COLOR),
                "style_size": comfy_input(STYLE_SIZE),
                "content_statistics": comfy_input(
                    STATISTICS_OPTION,
                    tooltip="per-frame: like images; clip: one look for the whole clip (reads "
                    "it twice); running: the statistics of the frames so far (one look, one "
                    "read).",
                ),
            },
            "optional": {
                "precision": run_precision_input(),
                "flow_blend": comfy_input(FLOW_BLEND),
                "feature_blend": comfy_input(FEATURE_BLEND),
                "detail_blend": comfy_input(DETAIL_BLEND),
                "palette": comfy_input(PALETTE),
                "wct": comfy_input(WCT),
                "size": comfy_input(FRAME_SIZE),
            },
        }

    def stylize_video(
        self,
        sct_model,
        video,
        style,
        alpha,
        preserve_color,
        style_size,
        content_statistics,
        precision="model",
        flow_blend=FLOW_BLEND.default,
        feature_blend=DEFAULT_FEATURE_BLEND,
        detail_blend=DETAIL_BLEND.default,
        palette=PALETTE.default,
        wct=WCT.default,
        size=FRAME_SIZE.default,
    ):
        options = from_values(VideoOptions, locals(), statistics=content_statistics)
        check_handle(sct_model)
        styles = style_images(style, style_size)
        path, spilled = cb.video_file(video)
        try:
            source = FrameSource(path)
            h, w = planned_size(source.info.height, source.info.width, size)
            check_pixels("video frames", w, h)
            shapes = [(options.batch, h, w), (1, *styles.shape[-2:])]
            stylizer = make_stylizer(
                sct_model, precision, shapes, detail_blend > 0, cpu_step_cap=CPU_STEP_BYTES
            )
            try:
                prepared = stylizer.prepare_style([styles[i : i + 1] for i in range(len(styles))])
                output = cb.temp_file("ccpl_video", ".mp4")
                update = cb.progress_callback(source.info.frames or 1)
                stylize_clip_file(
                    stylizer,
                    source,
                    output,
                    prepared,
                    options,
                    progress=lambda done, total: update(done, max(done, total or 0)),
                )
            finally:
                release(stylizer)
        finally:
            if spilled is not None:
                spilled.unlink(missing_ok=True)
        return (cb.video_from_file(output),)
