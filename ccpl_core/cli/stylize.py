"""``ccpl stylize``: stylise image files with one or several styles."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm import tqdm

from .. import masks
from ..color import COLOR_METHODS
from ..errors import InputError
from ..images import IMAGE_SUFFIXES, load_image, resize_short_side, save_image
from ..loading import load_model
from ..pipeline import Stylizer
from ..runtime import PRECISIONS
from .progress import StepBar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stylize",
        help="stylise images",
        description="Stylise content images (files or folders) with one or more style images.",
    )
    p.add_argument("content", nargs="+", help="content image files or folders of images")
    p.add_argument(
        "--style",
        action="append",
        required=True,
        help="style image; repeat to blend several styles",
    )
    p.add_argument(
        "--style-weights",
        type=_floats,
        default=None,
        help="comma-separated blend weights, one per --style (default: equal)",
    )
    p.add_argument(
        "--model",
        default=None,
        help="model name from the manifest, .safetensors file or folder "
        "(default: the manifest's default model)",
    )
    p.add_argument(
        "--models-dir",
        default=None,
        help="folder of downloaded/shared weights (default: $CCPL_MODELS_DIR)",
    )
    p.add_argument("--manifest", default=None, help="weights manifest (default: $CCPL_MANIFEST)")
    p.add_argument(
        "--mode",
        choices=("art", "photo"),
        default=None,
        help="artistic or photo-realistic (default: the model's own)",
    )
    p.add_argument("--alpha", type=float, default=1.0, help="style strength 0..1 (default 1)")
    p.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
    p.add_argument(
        "--color-method",
        choices=COLOR_METHODS[1:],
        default="luminance",
        help="how --preserve-color works: luminance-only transfer or style recolouring",
    )
    p.add_argument(
        "--mask",
        default=None,
        help="grayscale mask image: white = stylise, black = keep the content",
    )
    p.add_argument(
        "--outside-style",
        default=None,
        help="style applied outside the mask instead of keeping the content",
    )
    p.add_argument(
        "--mask-feather",
        type=float,
        default=masks.DEFAULT_FEATHER,
        help=f"soft mask edge radius in pixels (default {masks.DEFAULT_FEATHER})",
    )
    p.add_argument(
        "--size",
        type=int,
        default=512,
        help="resize the content's shorter side to N pixels; 0 keeps it (default 512)",
    )
    p.add_argument(
        "--style-size",
        type=int,
        default=512,
        help="resize the style's shorter side to N pixels; 0 keeps it (default 512)",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="fp32 is exact; auto uses bf16/fp16 where the hardware is fast at it",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument(
        "--tile",
        type=int,
        default=None,
        help="tile size in pixels (default: automatic from free memory; 0 = never)",
    )
    p.add_argument(
        "-o", "--output", required=True, help="output file for one input, output folder for several"
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=run)


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, got {text!r}"
        ) from exc


def collect_images(paths: list[str]) -> list[Path]:
    """Image files named directly or found (non-recursively) in named folders, in order."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {p}")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise InputError(f"content image not found: {p}")
    return out


def output_paths(inputs: list[Path], output: str) -> list[Path]:
    out = Path(output)
    if len(inputs) == 1 and out.suffix.lower() in IMAGE_SUFFIXES:
        return [out]
    if out.suffix.lower() in IMAGE_SUFFIXES:
        raise InputError(f"-o {out}: {len(inputs)} inputs need an output folder, not a file name")
    names = [f"{p.stem}_stylized.png" for p in inputs]
    if len(set(names)) != len(names):
        names = [f"{i:04d}_{n}" for i, n in enumerate(names)]
    return [out / n for n in names]


def run(args: argparse.Namespace) -> int:
    if args.style_weights is not None and len(args.style_weights) != len(args.style):
        raise InputError(
            f"--style-weights has {len(args.style_weights)} values for {len(args.style)} --style"
        )
    inputs = collect_images(args.content)
    targets = output_paths(inputs, args.output)
    if not args.overwrite:
        existing = [str(t) for t in targets if t.exists()]
        if existing:
            raise InputError(f"output exists: {', '.join(existing[:3])} (use --overwrite)")
    if args.outside_style and not args.mask:
        raise InputError("--outside-style needs --mask (it is applied where the mask is black)")
    model = load_model(
        args.model, mode=args.mode, models_dir=args.models_dir, manifest=args.manifest
    )
    stylizer = Stylizer(model, device=args.device, precision=args.precision)
    styles = [resize_short_side(load_image(s)[0], args.style_size) for s in args.style]
    prepared = stylizer.prepare_style(styles, args.style_weights)
    outside = None
    if args.outside_style:
        outside = stylizer.prepare_style(
            [resize_short_side(load_image(args.outside_style)[0], args.style_size)]
        )
    mask_image = load_image(args.mask)[0][:, :1] if args.mask else None
    color = args.color_method if args.preserve_color else "none"

    for src, dst in tqdm(
        list(zip(inputs, targets, strict=True)),
        desc="stylize",
        unit="img",
        disable=len(inputs) < 2 or None,
    ):
        rgb, alpha_channel = load_image(src)
        mask = _mask_for(mask_image, rgb, args.mask, src)
        content = resize_short_side(rgb, args.size)
        if mask is not None:
            mask = torch.nn.functional.interpolate(
                mask, size=content.shape[-2:], mode="bilinear", antialias=True, align_corners=False
            )
        if alpha_channel is not None:
            alpha_channel = resize_short_side(alpha_channel, args.size)
            content = torch.cat([content, alpha_channel], dim=1)
        bar = StepBar(src.name)
        try:
            out = stylizer.stylize(
                content,
                prepared,
                alpha=args.alpha,
                preserve_color=color,
                mask=mask,
                outside=outside,
                feather=args.mask_feather,
                tile=args.tile,
                progress=bar,
            )
        finally:
            bar.close()
        alpha_out = out[:, 3:] if out.shape[1] == 4 else None
        save_image(out[:, :3], dst, alpha=alpha_out, overwrite=args.overwrite)
        print(dst)
    return 0


def _mask_for(
    mask: torch.Tensor | None, rgb: torch.Tensor, name: str, src: Path
) -> torch.Tensor | None:
    if mask is None:
        return None
    if mask.shape[-2:] != rgb.shape[-2:]:
        raise InputError(
            f"--mask {name} is {mask.shape[-1]}x{mask.shape[-2]} but {src.name} is "
            f"{rgb.shape[-1]}x{rgb.shape[-2]}; the mask must have the content's size"
        )
    return mask
