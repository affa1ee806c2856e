"""``ccpl video``: stylise a video file or a folder of frames, streaming, with coherence options."""

from __future__ import annotations

import argparse
import json

from tqdm import tqdm

from ..images import load_image, resize_short_side
from ..loading import load_model
from ..pipeline import Stylizer
from ..runtime import PRECISIONS
from ..video import STATISTICS, FrameSink, FrameSource, VideoOptions, stylize_video
from ..video.engine import DEFAULT_FEATURE_BLEND, output_info
from ..video.flow import FLOW_PRESETS
from ..video.io import X264_PRESETS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "video",
        help="stylise a video (file or folder of frames)",
        description="Stylise a clip frame by frame without holding it in memory.",
    )
    p.add_argument("input", help="video file (mp4, mov, avi, ...) or folder of frames")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="video file (keeps fps and audio) or folder of PNG frames",
    )
    p.add_argument("--style", action="append", required=True, help="style image (repeatable)")
    p.add_argument("--style-weights", type=lambda t: [float(x) for x in t.split(",")], default=None)
    p.add_argument("--model", default=None, help="manifest name, file or folder")
    p.add_argument("--models-dir", default=None)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--preserve-color", action="store_true")
    p.add_argument(
        "--statistics",
        choices=STATISTICS,
        default="per-frame",
        help="content statistics: per-frame (like images), clip (one normalisation for the "
        "whole clip; reads the input twice) or running (the frames so far)",
    )
    p.add_argument(
        "--feature-blend",
        type=float,
        default=DEFAULT_FEATURE_BLEND,
        help="0..1: carry the previous frame's features along the optical flow where it is "
        "reliable: less flicker at unchanged style strength (default %(default)s; 0 = off)",
    )
    p.add_argument(
        "--detail-blend",
        type=float,
        default=0.0,
        help="0..1: also carry the decoder's full-resolution activations along the flow: "
        "texture follows slow motion too; least flicker, slightly weaker style (0.2 measured "
        "best; 0 = off, the default)",
    )
    p.add_argument(
        "--flow-blend",
        type=float,
        default=0.0,
        help="0..1: blend the flow-warped previous output image where flow is reliable "
        "(smoother, but softens the style)",
    )
    p.add_argument(
        "--flow-preset",
        choices=tuple(FLOW_PRESETS),
        default="medium",
        help="optical flow: DIS preset (speed against accuracy) or farneback",
    )
    p.add_argument("--size", type=int, default=0, help="resize frames' shorter side (0 = keep)")
    p.add_argument("--style-size", type=int, default=512)
    p.add_argument("--batch", type=int, default=8, help="frames per network batch")
    p.add_argument("--fps", type=float, default=None, help="frame rate of a frame folder")
    p.add_argument("--precision", choices=PRECISIONS, default="auto")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--crf",
        type=int,
        default=18,
        help="H.264 quality of mp4/mkv/mov outputs: 0 lossless .. 51 worst (default 18)",
    )
    p.add_argument(
        "--preset",
        choices=X264_PRESETS,
        default="medium",
        help="H.264 speed preset: slower gives smaller files at the same quality",
    )
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    opts = VideoOptions(
        alpha=args.alpha,
        preserve_color="luminance" if args.preserve_color else "none",
        statistics=args.statistics,
        flow_blend=args.flow_blend,
        feature_blend=args.feature_blend,
        detail_blend=args.detail_blend,
        flow_preset=args.flow_preset,
        batch=args.batch,
        size=args.size,
    )
    opts.validate()
    source = FrameSource(args.input, fps=args.fps)
    info = output_info(source.info, args.size)
    stylizer = Stylizer(
        load_model(args.model, models_dir=args.models_dir),
        device=args.device,
        precision=args.precision,
    )
    styles = [resize_short_side(load_image(s)[0], args.style_size) for s in args.style]
    prepared = stylizer.prepare_style(styles, args.style_weights)
    sink = FrameSink(
        args.output,
        info,
        audio_from=source.path if source.path.is_file() else None,
        overwrite=args.overwrite,
        crf=args.crf,
        preset=args.preset,
    )
    bar = tqdm(total=source.info.frames, unit="frame", desc="video", disable=None)

    def progress(done: int, total: int | None) -> None:
        bar.update(done - bar.n)

    try:
        result = stylize_video(stylizer, source, sink, prepared, opts, progress)
        sink.close()
    except BaseException:
        sink.abort()
        raise
    finally:
        bar.close()
    print(json.dumps({"output": str(args.output), **result}))
    return 0
