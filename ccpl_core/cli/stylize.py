"""``ccpl stylize``: stylise image files with one or several styles."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from ..errors import InputError, OutputExists, describe, expected_errors, for_cli
from ..fsutil import natural_key, refuse_inputs
from ..image_files import check_stylable, stylize_file
from ..images import (
    IMAGE_SUFFIXES,
    check_output_size,
    check_writable,
    image_size,
    load_image,
    load_image_resized,
    max_pixels,
    planned_size,
)
from ..loading import load_model
from ..option_specs import MASK_FEATHER, SIZE, TILE
from ..pipeline import ImageOptions, PreparedStyle, Stylizer
from .arguments import (
    add_argument,
    color_method,
    device_group,
    existing_arguments,
    max_pixels_argument,
    model_group,
    model_options,
    output_group,
    picture_arguments,
    style_group,
    style_weights_of,
)
from .progress import StepBar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stylize",
        help="stylise images",
        description="Stylise content images (files or folders) with one or more style images.",
    )
    p.add_argument("content", nargs="+", help="content image files or folders of images")
    style_group(p)
    model_group(p)
    picture_arguments(p)
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
    add_argument(p, MASK_FEATHER)
    add_argument(p, SIZE)
    add_argument(p, TILE)
    max_pixels_argument(p)
    device_group(p)
    output = output_group(
        p, "output file for one input, output folder for several", overwrite=False
    )
    existing_arguments(output, "output files")
    p.set_defaults(func=run)


def collect_images(paths: list[str]) -> list[Path]:
    """Image files named directly or found (non-recursively) in named folders, in order
    (numbered names in natural order: 2.png before 10.png)."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                (f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES), key=natural_key
            )
            if not found:
                raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {p}")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise InputError(f"content image not found: {p}")
    return out


def output_paths(inputs: list[Path], output: str) -> list[Path]:
    """Where each input's result goes: ``-o`` itself for one input, else files in a folder.

    ``-o`` is a folder when it ends with a separator, is an existing folder or has no suffix;
    for one input, a name with a suffix that is no image format is refused rather than silently
    made a folder (``-o result.gif``).
    """
    out = Path(output)
    suffix = out.suffix.lower()
    folder = output.endswith(("/", os.sep)) or out.is_dir() or not suffix
    if not folder:
        if len(inputs) == 1 and suffix in IMAGE_SUFFIXES:
            return [out]
        if len(inputs) == 1:
            raise InputError(
                f"-o {output}: {suffix} is not an image format; use one of "
                f"{', '.join(IMAGE_SUFFIXES)}, or end the name with / for a folder"
            )
        if suffix in IMAGE_SUFFIXES:
            raise InputError(
                f"-o {out}: {len(inputs)} inputs need an output folder, not a file name"
            )
    names = [f"{p.stem}_stylized.png" for p in inputs]
    if len(set(names)) != len(names):
        names = [f"{i:04d}_{n}" for i, n in enumerate(names)]
    return [out / n for n in names]


class _Failures:
    """Per-image failures: each reported on one line as it happens, listed again at the end."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.names: list[str] = []

    def add(self, src: Path, exc: BaseException) -> None:
        message = for_cli(describe(exc))
        if str(src) not in message:
            message = f"{src}: {message}"
        print(f"ccpl stylize: error: {message}", file=sys.stderr)
        self.names.append(str(src))

    def finish(self) -> int:
        """The exit status: 2 when any image failed (with the list, for a batch), else 0."""
        if not self.names:
            return 0
        if self.total > 1:
            rest = "" if len(self.names) == self.total else "; the others were written"
            print(
                f"ccpl stylize: error: {len(self.names)} of {self.total} images failed: "
                f"{', '.join(self.names)}{rest} (fix them and rerun with --skip-existing)",
                file=sys.stderr,
            )
        return 2


def run(args: argparse.Namespace) -> int:
    """Check everything that can be checked before the model loads, then stylise each image."""
    style_weights = style_weights_of(args)
    if args.outside_style and not args.mask:
        raise InputError("--outside-style needs --mask (it is applied where the mask is black)")
    limit = max_pixels(args.max_pixels)  # resolved once: a bad $CCPL_MAX_PIXELS is refused here
    inputs = collect_images(args.content)
    targets = output_paths(inputs, args.output)
    jobs = list(zip(inputs, targets, strict=True))
    sources = [*inputs, *args.style, args.mask, args.outside_style, args.model]
    refuse_inputs(targets, sources)
    existing = [t for t in targets if os.path.lexists(t)]
    if existing and args.skip_existing:
        jobs = [(src, dst) for src, dst in jobs if not os.path.lexists(dst)]
        print(
            f"ccpl stylize: skipping {len(existing)} image(s) whose output exists",
            file=sys.stderr,
        )
        if not jobs:
            return 0
    elif existing and not args.overwrite:
        names = ", ".join(str(t) for t in existing[:3])
        raise InputError(
            f"output exists: {names} (use --overwrite to replace, --skip-existing to keep)"
        )

    # Headers only: an unreadable image or an output too large is known before any compute.
    failures = _Failures(len(inputs))
    planned: list[tuple[Path, Path, tuple[int, int]]] = []
    for src, dst in jobs:
        try:
            w, h = image_size(src, limit)
            ph, pw = planned_size(h, w, args.size)
            check_output_size(f"output for {src} at --size {args.size}", dst, pw, ph, limit)
            planned.append((src, dst, (ph, pw)))
        except expected_errors() as exc:
            failures.add(src, exc)
    if not planned:
        return failures.finish()
    check_writable([dst for _, dst, _ in planned])
    styles = [load_image_resized(s, args.style_size, limit, "style") for s in args.style]
    outside_image = (
        load_image_resized(args.outside_style, args.style_size, limit, "style")
        if args.outside_style
        else None
    )
    mask_image = load_image(args.mask, limit)[0][:, :1] if args.mask else None

    model = load_model(args.model, **model_options(args))
    stylizer = Stylizer(model, device=args.device, precision=args.precision)
    prepared = stylizer.prepare_style(styles, style_weights)
    outside = stylizer.prepare_style([outside_image]) if outside_image is not None else None
    color = color_method(args)

    written = 0
    try:
        for src, dst, (ph, pw) in tqdm(
            planned, desc="stylize", unit="img", disable=len(planned) < 2 or None
        ):
            try:
                check_stylable(stylizer, ph, pw, src)
                _stylize_one(stylizer, prepared, outside, mask_image, color, src, dst, args, limit)
            except OutputExists as exc:
                if not args.skip_existing:
                    failures.add(src, exc)
                continue  # it appeared during the run: --skip-existing leaves it alone
            except expected_errors() as exc:
                failures.add(src, exc)
                continue
            written += 1
            print(dst, flush=True)
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP: the image in progress is dropped
        if len(planned) > 1:
            exc.kept = (  # type: ignore[attr-defined]
                f"{written} of {len(planned)} images written; rerun with --skip-existing to finish"
            )
        raise
    return failures.finish()


def _stylize_one(
    stylizer: Stylizer,
    prepared: PreparedStyle,
    outside: PreparedStyle | None,
    mask_image: torch.Tensor | None,
    color: str,
    src: Path,
    dst: Path,
    args: argparse.Namespace,
    limit: int,
) -> None:
    """Read, stylise and write one image (atomically: a failure leaves no file under ``dst``)."""
    options = ImageOptions(
        alpha=args.alpha,
        palette=args.palette,
        wct=args.wct,
        preserve_color=color,
        feather=args.mask_feather,
        tile=args.tile,
    )
    bar = StepBar(src.name)
    try:
        stylize_file(
            stylizer,
            prepared,
            src,
            dst,
            options,
            size=args.size,
            limit=limit,
            overwrite=args.overwrite,
            mask=mask_image,
            mask_name=f"--mask {args.mask}",
            outside=outside,
            progress=bar,
        )
    finally:
        bar.close()
