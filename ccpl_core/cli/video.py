"""``ccpl video``: stylise a video file or a folder of frames, streaming, with coherence options."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from ..cluster.video import ClipSettings, stylize_clip_by_shots
from ..declared import from_values
from ..errors import InputError
from ..fsutil import refuse_inputs
from ..images import (
    check_pixels,
    check_writable,
    load_image_resized,
    max_pixels,
    planned_size,
)
from ..loading import load_model
from ..option_specs import (
    BATCH,
    DETAIL_BLEND,
    FEATURE_BLEND,
    FLOW_BLEND,
    FLOW_PRESET,
    FRAME_SIZE,
    STATISTICS_OPTION,
    TILE,
)
from ..options import finite_float, int_range
from ..pipeline import Stylizer
from ..video import FrameSource, VideoOptions
from ..video.files import check_frame_size, stylize_clip_file
from ..video.io import VIDEO_SUFFIXES, X264_PRESETS, check_frames_folder
from .arguments import (
    add_argument,
    color_method,
    device_group,
    engine_group,
    engine_of,
    max_pixels_argument,
    model_group,
    model_options,
    output_group,
    picture_arguments,
    style_group,
    style_weights_of,
)
from .progress import FrameBar

#: Highest frame rate accepted for a frame folder.
MAX_FPS = 1000.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "video",
        help="stylise a video (file or folder of frames)",
        description="Stylise a clip frame by frame without holding it in memory.",
    )
    p.add_argument("input", help="video file (mp4, mov, avi, ...) or folder of frames")
    style_group(p)
    model_group(p)
    picture_arguments(p)
    coherence = p.add_argument_group("temporal coherence")
    for option in (STATISTICS_OPTION, FEATURE_BLEND, DETAIL_BLEND, FLOW_BLEND, FLOW_PRESET):
        add_argument(coherence, option)
    add_argument(p, FRAME_SIZE)
    add_argument(p, TILE)
    add_argument(p, BATCH)
    engine_group(
        p
    ).description = (
        "--engine ray stylises the clip's shots (split at scene cuts) in parallel and joins them"
    )
    p.add_argument(
        "--fps",
        type=finite_float(0, MAX_FPS, low_open=True),
        default=None,
        help="frame rate of a frame folder (default 25)",
    )
    max_pixels_argument(p, "frame or image read or written")
    device_group(p)
    output = output_group(p, "video file (keeps fps and audio) or folder of PNG frames")
    output.add_argument(
        "--crf",
        type=int_range(0, 51),
        default=18,
        help="H.264 quality of mp4/mkv/mov outputs: 0 lossless .. 51 worst (default 18)",
    )
    output.add_argument(
        "--preset",
        choices=X264_PRESETS,
        default="medium",
        help="H.264 speed preset: slower gives smaller files at the same quality",
    )
    p.set_defaults(func=run)


def check_output(output: str, overwrite: bool) -> Path:
    """Refuse, before the model loads, an output that FrameSink would refuse or could not write.

    ``-o`` is a video file when it has a video suffix, a frames folder when it ends with a
    separator, is an existing folder or has no suffix; any other suffix (``-o clip.png``) is
    refused rather than silently made a folder.
    """
    path = Path(output)
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        if path.is_dir():
            raise InputError(f"-o {output} is a folder; choose a file name for the video")
        if os.path.lexists(path) and not overwrite:
            raise InputError(f"output exists: {path} (use --overwrite)")
        check_writable([path])
        return path
    if suffix and not (output.endswith(("/", os.sep)) or path.is_dir()):
        raise InputError(
            f"-o {output}: {suffix} is not a video format; use one of "
            f"{', '.join(VIDEO_SUFFIXES)}, or end the name with / for a folder of PNG frames"
        )
    if os.path.lexists(path) and not path.is_dir():
        raise InputError(f"-o {output} is a file; a folder of frames needs a folder name")
    check_frames_folder(path, overwrite)
    check_writable([path])
    return path


def run(args: argparse.Namespace) -> int:
    """Check the input, the output and the options before the model loads, then stream."""
    opts = from_values(VideoOptions, vars(args), preserve_color=color_method(args))
    style_weights = style_weights_of(args)
    limit = max_pixels(args.max_pixels)  # resolved once: a bad $CCPL_MAX_PIXELS is refused here
    source = FrameSource(args.input, fps=args.fps, max_pixels=limit)
    oh, ow = planned_size(source.info.height, source.info.width, args.size)
    check_pixels(f"output frames of {args.input} at --size {args.size}", ow, oh, limit)
    video = Path(args.output).suffix.lower() in VIDEO_SUFFIXES
    refuse_inputs(args.output, [args.input, *args.style, args.model], folder=not video)
    output = check_output(args.output, args.overwrite)
    styles = [load_image_resized(s, args.style_size, limit, "style") for s in args.style]
    engine = engine_of(args)
    encoding = {"overwrite": args.overwrite, "crf": args.crf, "preset": args.preset}
    if engine.name == "ray":
        settings = _clip_settings(args, opts, style_weights, limit)

        def job(progress: FrameBar) -> dict:
            return stylize_clip_by_shots(
                engine, settings, args.input, args.output, progress=progress, **encoding
            )
    else:
        if engine.cpus_per_worker:
            torch.set_num_threads(engine.cpus_per_worker)
        model = load_model(args.model, **model_options(args))
        stylizer = Stylizer(model, device=args.device, precision=args.precision)
        check_frame_size(stylizer, source, args.size, args.input)
        prepared = stylizer.prepare_style(styles, style_weights)

        def job(progress: FrameBar) -> dict:
            return stylize_clip_file(
                stylizer, source, output, prepared, opts, progress=progress, **encoding
            )

    with FrameBar(f"video ({engine.name})", source.info.frames) as progress:
        result = job(progress)
    print(json.dumps({"output": str(args.output), **result}))
    return 0


def _clip_settings(
    args: argparse.Namespace,
    opts: VideoOptions,
    style_weights: list[float] | None,
    limit: int,
) -> ClipSettings:
    """What each shot worker of ``--engine ray`` needs to stylise its shots as this run would."""
    return ClipSettings(
        model=args.model,
        model_options=model_options(args),
        device=args.device,
        precision=args.precision,
        styles=tuple(args.style),
        weights=tuple(style_weights) if style_weights else None,
        style_size=args.style_size,
        options=opts,
        fps=args.fps,
        limit=limit,
    )
