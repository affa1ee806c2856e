"""One image file in, one stylised file out: the path ``ccpl stylize`` and ``ccpl batch`` share."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from .errors import InputError
from .images import load_image, resize_short_side, save_image
from .pipeline import ImageOptions, PreparedStyle, Progress, Stylizer


def check_stylable(stylizer: Stylizer, height: int, width: int, src: str | os.PathLike) -> None:
    """Refuse an image that would be stylised smaller than the model can take."""
    need = stylizer.stride + 1  # the decoder's reflection padding needs 2 feature rows
    if min(height, width) < need:
        raise InputError(
            f"{src} would be stylised at {width}x{height} pixels; the {stylizer.mode} model needs "
            f"at least {need} pixels a side: use a larger image or `size` {need}"
        )


def stylize_file(
    stylizer: Stylizer,
    style: PreparedStyle,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    options: ImageOptions,
    *,
    size: int,
    limit: int | None = None,
    overwrite: bool = False,
    mask: torch.Tensor | None = None,
    mask_name: str = "the mask",
    outside: PreparedStyle | None = None,
    progress: Progress | None = None,
) -> Path:
    """Read ``src``, stylise it at ``size`` (shorter side; 0 keeps it) and write ``dst``
    atomically (a failure leaves no file under ``dst``). An alpha channel is kept; ``mask``
    [1, 1, H, W] at the source's size (``mask_name`` in messages) limits the style to where it is
    white."""
    rgb, alpha_channel = load_image(src, limit)
    if mask is not None and mask.shape[-2:] != rgb.shape[-2:]:
        raise InputError(
            f"{mask_name} is {mask.shape[-1]}x{mask.shape[-2]} but {Path(src).name} is "
            f"{rgb.shape[-1]}x{rgb.shape[-2]}; the mask must have the content's size"
        )
    content = resize_short_side(rgb, size)
    check_stylable(stylizer, *content.shape[-2:], src)
    if mask is not None:
        mask = F.interpolate(
            mask, size=content.shape[-2:], mode="bilinear", antialias=True, align_corners=False
        )
    if alpha_channel is not None:
        content = torch.cat([content, resize_short_side(alpha_channel, size)], dim=1)
    out = stylizer.stylize(
        content,
        style,
        alpha=options.alpha,
        palette=options.palette,
        wct=options.wct,
        preserve_color=options.preserve_color,
        mask=mask,
        outside=outside,
        feather=options.feather,
        tile=options.tile,
        progress=progress,
    )
    alpha_out = out[:, 3:] if out.shape[1] == 4 else None
    return save_image(out[:, :3], dst, alpha=alpha_out, overwrite=overwrite)
