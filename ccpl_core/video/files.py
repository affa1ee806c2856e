"""One clip, file to file: the path both ``ccpl video`` and the ComfyUI video node run.

Frames stream from the source through the network into the sink a chunk at a time, so memory
stays at a few frames whatever the clip's length; the sink keeps the source's frame rate and
audio, and nothing is published under the output's name unless the whole clip was written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import InputError
from ..pipeline import PreparedStyle, Stylizer
from .engine import VideoOptions, output_info, stylize_video
from .io import FrameSink, FrameSource


def check_frame_size(stylizer: Stylizer, source: FrameSource, size: int, what: str) -> None:
    """Refuse frames smaller than the model can stylise, before any frame is decoded."""
    info = output_info(source.info, size)
    need = stylizer.stride + 1  # the decoder's reflection padding needs 2 feature rows
    if min(info.width, info.height) < need:
        raise InputError(
            f"{what}: frames would be stylised at {info.width}x{info.height} pixels; the "
            f"{stylizer.mode} model needs at least {need} pixels a side: set `size` to {need} "
            "or more"
        )


def stylize_clip_file(
    stylizer: Stylizer,
    source: FrameSource,
    output: str | Path,
    style: PreparedStyle,
    options: VideoOptions,
    *,
    overwrite: bool = False,
    crf: int = 18,
    preset: str = "medium",
    progress: Callable[[int, int | None], None] | None = None,
) -> dict:
    """Stylise ``source`` into ``output`` (a video file or a frames folder); returns counts.

    An exception from ``progress`` (a user's Cancel) or from the network stops the run and
    removes what was written: the output's name is only taken by a complete clip.
    """
    check_frame_size(stylizer, source, options.size, str(source.path))
    sink = FrameSink(
        output,
        output_info(source.info, options.size),
        audio_from=source.path if source.path.is_file() else None,
        overwrite=overwrite,
        crf=crf,
        preset=preset,
    )
    return stylize_video(stylizer, source, sink, style, options, progress)  # publishes or aborts
