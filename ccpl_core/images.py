"""Turning files and arbitrary tensors into the float RGB batches the network expects, and back.

Accepted: grayscale, grayscale+alpha, RGB and RGBA; 8-bit, 16-bit and float images. The alpha
channel is split off (and can be put back on the result) rather than fed to the network.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .errors import InputError
from .fsutil import atomic_write

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def to_rgb(image: torch.Tensor, name: str = "image") -> tuple[torch.Tensor, torch.Tensor | None]:
    """Normalise an image tensor to float32 RGB [B, 3, H, W] in [0, 1], plus alpha [B, 1, H, W].

    ``image`` may be [H, W], [C, H, W] or [B, C, H, W] with C in {1, 2, 3, 4}; integer dtypes are
    scaled by their maximum (uint8 -> /255, int32 holding 16-bit data -> /65535).
    """
    x = as_batch(image, name)
    x = _to_unit_float(x, name)
    alpha = None
    if x.shape[1] in (2, 4):
        x, alpha = x[:, :-1], x[:, -1:]
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x.contiguous(), alpha


def as_batch(image: torch.Tensor, name: str = "image") -> torch.Tensor:
    """A [B, C, H, W] view of an image tensor, validated without copying its data."""
    if not isinstance(image, torch.Tensor):
        raise InputError(f"{name}: expected a torch.Tensor, got {type(image).__name__}")
    x = image
    if x.dim() == 2:
        x = x[None, None]
    elif x.dim() == 3:
        x = x[None]
    if x.dim() != 4:
        raise InputError(
            f"{name}: expected [H,W], [C,H,W] or [B,C,H,W], got shape {tuple(image.shape)}"
        )
    b, c, h, w = x.shape
    if b == 0:
        raise InputError(f"{name}: the batch is empty (shape {tuple(image.shape)})")
    if c not in (1, 2, 3, 4):
        raise InputError(
            f"{name}: expected 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA) channels in "
            f"dimension 1, got {c} (shape {tuple(image.shape)}); channels-last tensors must be "
            "permuted to [B,C,H,W] first"
        )
    if h == 0 or w == 0:
        raise InputError(f"{name}: image has zero size ({h}x{w})")
    return x


def _to_unit_float(x: torch.Tensor, name: str) -> torch.Tensor:
    if x.dtype == torch.bool:
        return x.float()
    if not x.is_floating_point():
        if x.dtype == torch.uint8:
            return x.float() / 255.0
        top = int(x.max()) if x.numel() else 0
        if int(x.min()) < 0:
            raise InputError(f"{name}: integer image has negative values")
        scale = 255.0 if top <= 255 else 65535.0
        return x.float() / scale
    x = x.float()
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).sum())
        raise InputError(
            f"{name}: contains {bad} NaN or infinite values; fix the upstream node/file"
        )
    return x.clamp(0.0, 1.0)


def load_image(path: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Read an image file as float RGB [1, 3, H, W] in [0, 1] and its alpha (or None)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"image file not found: {p}")
    array = _read_16bit(p) if p.suffix.lower() in (".png", ".tif", ".tiff") else None
    if array is None:
        try:
            with Image.open(p) as im:
                im.load()
                array = _pil_to_array(im)
        except (OSError, ValueError) as exc:  # PIL raises UnidentifiedImageError (an OSError)
            raise InputError(f"cannot read image {p}: {exc}") from exc
    t = torch.from_numpy(np.array(array, copy=True))
    t = t[None] if t.dim() == 2 else t.permute(2, 0, 1)
    return to_rgb(t[None], name=str(p))


def _pil_to_array(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.asarray(im).astype(np.int32)
    if im.mode == "F":
        return np.asarray(im).astype(np.float32)
    if im.mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(im)
    if "A" in im.getbands() or (im.mode == "P" and "transparency" in im.info):
        return np.asarray(im.convert("RGBA"))
    return np.asarray(im.convert("RGB"))


def _read_16bit(p: Path) -> np.ndarray | None:
    """16-bit colour PNG/TIFF via OpenCV (Pillow cannot hold them); None to fall back to Pillow."""
    try:
        import cv2
    except ImportError:
        return None
    data = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if data is None or data.dtype != np.uint16 or data.ndim != 3:
        return None
    order = cv2.COLOR_BGRA2RGBA if data.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(data, order).astype(np.int32)


def resize_short_side(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize so the shorter side is ``size`` (0 keeps the size), like the authors' scripts."""
    if size <= 0:
        return image
    h, w = image.shape[-2:]
    if min(h, w) == size:
        return image
    scale = size / min(h, w)
    new = (max(1, round(h * scale)), max(1, round(w * scale)))
    return F.interpolate(
        image, size=new, mode="bicubic", antialias=True, align_corners=False
    ).clamp(0, 1)


def save_image(
    image: torch.Tensor,
    path: str | os.PathLike,
    alpha: torch.Tensor | None = None,
    overwrite: bool = False,
) -> Path:
    """Write [1, 3, H, W] (or [3, H, W]) in [0, 1] to ``path`` atomically (8-bit).

    An existing file is never replaced unless ``overwrite`` is set.
    """
    p = Path(path)
    if p.exists() and not overwrite:
        raise InputError(f"output file exists: {p} (choose another name or pass overwrite)")
    x = image[0] if image.dim() == 4 else image
    if alpha is not None:
        a = alpha[0] if alpha.dim() == 4 else alpha
        if p.suffix.lower() in (".png", ".webp", ".tif", ".tiff"):
            x = torch.cat([x, a.to(x)], dim=0)
    array = (x.detach().float().clamp(0, 1) * 255.0).round().byte().permute(1, 2, 0).cpu().numpy()
    p.parent.mkdir(parents=True, exist_ok=True)
    fmt = Image.registered_extensions().get(p.suffix.lower())
    if fmt is None:
        raise InputError(f"unknown image format for output {p}; use .png, .jpg or .webp")
    options = {"quality": 95} if fmt == "JPEG" else {}
    return atomic_write(p, lambda fh: Image.fromarray(array).save(fh, format=fmt, **options))
