"""Turning files and arbitrary tensors into the float RGB batches the network expects, and back.

Accepted: grayscale, grayscale+alpha, RGB and RGBA; 8-bit, 16-bit and float images. The alpha
channel is split off (and can be put back on the result) rather than fed to the network.

Files are read on one path (:func:`read_image`) for still images, styles, masks and frame
folders: the header is read first and an image above the pixel limit is refused before anything
is decoded (:data:`DEFAULT_MAX_PIXELS`, raised with ``CCPL_MAX_PIXELS`` or ``--max-pixels``), the
pixels are decoded once, the EXIF orientation is applied (phone photos come out upright), and the
scale of integer data comes from the file's bit depth, never from its values.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from .errors import InputError
from .fsutil import atomic_write
from .options import parse_pixel_count

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

#: Largest image, in pixels, that is read or produced unless the limit is raised: 16384 x 16384
#: (268 Mpx). Such an image takes 3.2 GB as float RGB before any network runs; the limit keeps a
#: file whose header declares absurd dimensions, or a ``--size`` typo, from exhausting memory.
DEFAULT_MAX_PIXELS = 16384 * 16384
#: Environment variable overriding :data:`DEFAULT_MAX_PIXELS` (``300000000`` or ``20000x20000``).
MAX_PIXELS_ENV = "CCPL_MAX_PIXELS"
#: Largest side each output format can store (others: no limit below the pixel limit).
FORMAT_MAX_SIDE = {"JPEG": 65535, "WEBP": 16383}
#: EXIF tag holding the orientation (1 = upright, 2..8 = mirrored and/or rotated).
_ORIENTATION = 0x0112
#: Pillow's own decompression-bomb limit is a process-wide setting; it is lifted only while a
#: header is parsed (this module's limit applies instead), one thread at a time.
_PIL_LIMIT_LOCK = threading.Lock()


def max_pixels(limit: int | None = None) -> int:
    """The pixel limit in force: ``limit`` if given, else $CCPL_MAX_PIXELS, else the default."""
    if limit is not None:
        if int(limit) < 1:
            raise InputError(f"max_pixels must be a positive pixel count, got {limit}")
        return int(limit)
    env = os.environ.get(MAX_PIXELS_ENV)
    if not env:
        return DEFAULT_MAX_PIXELS
    try:
        return parse_pixel_count(env)
    except argparse.ArgumentTypeError as exc:
        raise InputError(f"{MAX_PIXELS_ENV}={env!r}: {exc}") from None


def check_pixels(what: str, width: int, height: int, limit: int | None = None) -> None:
    """Refuse an image (read or to be produced) above the pixel limit, naming it and the limit."""
    cap = max_pixels(limit)
    if width * height > cap:
        raise InputError(
            f"{what} is {width}x{height} ({_amount(width * height)}), above the limit of "
            f"{_amount(cap)}; use a smaller image or `size`, or raise the limit with "
            f"`max_pixels` or {MAX_PIXELS_ENV} if the memory is there"
        )


def _amount(pixels: int) -> str:
    """A pixel count for people: ``768 pixels``, ``2.1 Mpx``, ``268 Mpx``."""
    if pixels < 10**6:
        return f"{pixels} pixels"
    return f"{pixels / 1e6:.1f} Mpx" if pixels < 10**7 else f"{pixels / 1e6:.0f} Mpx"


def planned_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(height, width) that :func:`resize_short_side` gives, computed without any pixels."""
    if size <= 0 or min(height, width) == size:
        return height, width
    scale = size / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


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


def image_size(path: str | os.PathLike, limit: int | None = None) -> tuple[int, int]:
    """(width, height) of an image file from its header alone, to check sizes before any work.

    The pixel count and the sides are exact; an EXIF rotation may swap width and height on read.
    Refuses, like :func:`read_image`, a missing or unreadable file and one above the pixel limit.
    """
    p = Path(path)
    with _open(p) as im:
        w, h = im.size
        check_pixels(f"image {p}", w, h, limit)
        return w, h


def read_image(path: str | os.PathLike, limit: int | None = None) -> np.ndarray:
    """Decode an image file once, upright (EXIF orientation applied): [H, W, C], C in 1..4.

    The dtype follows the file: uint8 (8-bit), uint16 (16-bit, whatever its values), int32
    (32-bit integer) or float32. The size is checked against the pixel limit before decoding.
    """
    p = Path(path)
    with _open(p) as im:
        w, h = im.size
        check_pixels(f"image {p}", w, h, limit)
        raw = _rawmode(im)  # the header's description of the pixels; gone once decoded
        try:
            array = None
            if ";16" in raw and not im.mode.startswith("I"):
                array = _read_16bit(p, _orientation(im))
            if array is None:
                im.load()
                _exif_transpose(im)
                array = _pil_to_array(im, raw)
        except Image.DecompressionBombError as exc:  # some decoders (TIFF) check again
            raise InputError(
                f"cannot decode image {p} ({w}x{h}): Pillow's own limit refuses it ({exc}); "
                "convert it to PNG or raise PIL.Image.MAX_IMAGE_PIXELS"
            ) from exc
        except (OSError, ValueError, SyntaxError) as exc:
            raise InputError(
                f"cannot decode image {p}: {exc}; the file is damaged or truncated: "
                "re-export or replace it"
            ) from exc
    return array[..., None] if array.ndim == 2 else array


def load_image(
    path: str | os.PathLike, limit: int | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Read an image file as float RGB [1, 3, H, W] in [0, 1] and its alpha (or None).

    ``limit`` is the pixel limit (default: $CCPL_MAX_PIXELS or :data:`DEFAULT_MAX_PIXELS`).
    """
    p = Path(path)
    return to_rgb(_array_to_tensor(read_image(p, limit)), name=str(p))


def load_image_resized(
    path: str | os.PathLike, size: int, limit: int | None = None, what: str = "image"
) -> torch.Tensor:
    """:func:`load_image`'s RGB with its shorter side resized to ``size`` (0 keeps it).

    A ``size`` that would make the image larger than the pixel limit is refused from the header,
    before anything is decoded or allocated.
    """
    w, h = image_size(path, limit)
    ph, pw = planned_size(h, w, size)
    check_pixels(f"{what} {path} at size {size}", pw, ph, limit)
    return resize_short_side(load_image(path, limit)[0], size)


def load_frame(path: str | os.PathLike, limit: int | None = None) -> np.ndarray:
    """Read an image file as uint8 RGB [H, W, 3] (alpha dropped), the way video frames travel.

    16-bit and float files are scaled exactly as :func:`load_image` scales them, so a frame
    folder and a still image of the same file give the same pixels.
    """
    p = Path(path)
    array = read_image(p, limit)
    if array.dtype == np.uint8:
        c = array.shape[2]
        rgb = array[..., :3] if c >= 3 else np.repeat(array[..., :1], 3, axis=2)
        return np.ascontiguousarray(rgb)  # a copy only for a turned or RGBA image
    rgb, _ = to_rgb(_array_to_tensor(array), name=str(p))
    return rgb[0].mul(255.0).round_().to(torch.uint8).permute(1, 2, 0).numpy()


def _array_to_tensor(array: np.ndarray) -> torch.Tensor:
    """[H, W, C] array -> [1, C, H, W] tensor; 16-bit data scaled by 65535 whatever its values."""
    if array.dtype == np.uint16 or array.dtype == np.dtype(">u2"):
        t = torch.from_numpy(array.astype(np.float32)).div_(65535.0)
    else:
        t = torch.from_numpy(np.array(array, copy=True))
    return t.permute(2, 0, 1)[None]


@contextlib.contextmanager
def _open(p: Path) -> Iterator[Image.Image]:
    """Open an image lazily (header only), with a message naming the file when that fails."""
    if not p.is_file():
        raise InputError(f"image file not found: {p}")
    try:
        with _PIL_LIMIT_LOCK:
            saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                im = Image.open(p)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:  # permissions, I/O: not the format
            raise InputError(f"cannot read image {p}: {exc.strerror}") from exc
        if p.stat().st_size == 0:
            raise InputError(f"cannot read image {p}: the file is empty (0 bytes)") from exc
        raise InputError(
            f"cannot read image {p}: the file is damaged or not an image (readable: "
            f"{', '.join(IMAGE_SUFFIXES)}); replace it or convert it"
        ) from exc
    with im:
        yield im


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation (1..8) that the header gives; 1 when absent or unreadable.

    ``Image.Image.getexif`` reads only what the header holds, where a PNG's own ``getexif``
    would decode the whole image to look for metadata after the pixels.
    """
    try:
        value = Image.Image.getexif(im).get(_ORIENTATION, 1)
    except Exception:  # damaged metadata must not make a readable image unreadable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _exif_transpose(im: Image.Image) -> None:
    """Turn a decoded image upright in place (a no-op when Pillow did it while decoding)."""
    with contextlib.suppress(Exception):  # damaged metadata must not make an image unreadable
        ImageOps.exif_transpose(im, in_place=True)


def _upright(array: np.ndarray, orientation: int) -> np.ndarray:
    """``array`` [H, W, C] turned as ``ImageOps.exif_transpose`` turns an image (a view)."""
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return array.transpose(1, 0, 2)
    if orientation == 6:
        return np.rot90(array, -1)
    if orientation == 7:
        return array.transpose(1, 0, 2)[::-1, ::-1]
    if orientation == 8:
        return np.rot90(array, 1)
    return array


def _rawmode(im: Image.Image) -> str:
    """How the file stores its pixels (Pillow's raw mode, e.g. ``RGB;16B``), from the header."""
    try:
        args = im.tile[0][3]
    except (IndexError, TypeError):
        return ""
    if isinstance(args, tuple):
        args = args[0] if args else ""
    return args if isinstance(args, str) else ""


def _pil_to_array(im: Image.Image, raw: str) -> np.ndarray:
    """A decoded image as an array; ``raw`` (the header's raw mode) tells 16-bit data apart."""
    if im.mode.startswith("I;16") or (im.mode == "I" and "16" in raw):
        return np.asarray(im).astype(np.uint16)
    if im.mode == "I":
        return np.asarray(im).astype(np.int32)
    if im.mode == "F":
        return np.asarray(im).astype(np.float32)
    if im.mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(im)
    if "A" in im.getbands() or (im.mode == "P" and "transparency" in im.info):
        return np.asarray(im.convert("RGBA"))
    return np.asarray(im.convert("RGB"))


def _read_16bit(p: Path, orientation: int) -> np.ndarray | None:
    """16-bit colour PNG/TIFF via OpenCV (Pillow would cut them to 8 bits), turned upright.

    None (without OpenCV, or for data OpenCV reads otherwise) falls back to Pillow.
    """
    try:
        import cv2
    except ImportError:
        return None
    try:
        data = cv2.imdecode(np.fromfile(p, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise InputError(f"cannot decode image {p}: {str(exc).strip().splitlines()[-1]}") from exc
    if data is None:
        raise InputError(f"cannot decode image {p}: the file is damaged or truncated")
    if data.dtype != np.uint16 or data.ndim != 3:
        return None
    order = cv2.COLOR_BGRA2RGBA if data.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return _upright(cv2.cvtColor(data, order), orientation)  # IMREAD_UNCHANGED ignores EXIF


def check_output_size(
    what: str, path: Path, width: int, height: int, limit: int | None = None
) -> None:
    """Refuse, before any work, an output above the pixel limit or too large for its format."""
    check_pixels(what, width, height, limit)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    side = FORMAT_MAX_SIDE.get(fmt or "")
    if side is not None and max(width, height) > side:
        raise InputError(
            f"{what} would be {width}x{height}, but {fmt} stores at most {side} pixels a side; "
            "write a .png instead or use a smaller `size`"
        )


def check_writable(paths: Sequence[Path]) -> None:
    """Refuse, before any work, outputs that could not be written (found after the compute else).

    For each output folder, the nearest existing ancestor must be a folder in which a file can be
    created (a probe file is made and removed at once), and no name may be longer than the file
    system takes, counting the temporary name an output is written under. Nothing is created.
    """
    folders: dict[Path, list[str]] = {}
    for p in paths:
        folders.setdefault(p.parent, []).append(p.name)
    for folder, names in folders.items():
        base = folder
        while not base.exists() and base != base.parent:
            base = base.parent
        if not base.is_dir():
            raise InputError(
                f"cannot write to {folder}: {base} is a file, not a folder; choose another output"
            )
        try:
            most = os.pathconf(base, "PC_NAME_MAX")
        except (OSError, ValueError, AttributeError):  # not POSIX, or not said
            most = 255
        for part in folder.relative_to(base).parts:
            if len(os.fsencode(part)) > most:
                raise InputError(
                    f"cannot create folder {folder}: the name {part[:40]}... is longer than this "
                    f"file system takes ({most} bytes); shorten it"
                )
        longest = max(names, key=lambda n: len(os.fsencode(n)))
        # the temporary names of atomic_write are short whatever the final name: only it counts
        if len(os.fsencode(longest)) > most:
            raise InputError(
                f"cannot write {folder / longest[:40]}...: the name is {len(os.fsencode(longest))} "
                f"bytes, this file system takes at most {most}; shorten it"
            )
        try:
            fd, probe = tempfile.mkstemp(dir=base, prefix=".ccpl-write-test.")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise InputError(
                f"cannot write to {folder}: {exc.strerror} in {base}; check its permissions or "
                "choose another output"
            ) from exc


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

    An existing file (or a symlink, which is never followed) is never replaced unless
    ``overwrite`` is set, also when it appears while the image is written.
    """
    p = Path(path)
    if os.path.lexists(p) and not overwrite:
        raise InputError(f"output file exists: {p} (choose another name or pass overwrite)")
    fmt = Image.registered_extensions().get(p.suffix.lower())
    if fmt is None:
        raise InputError(f"unknown image format for output {p}; use .png, .jpg or .webp")
    x = image[0] if image.dim() == 4 else image
    if alpha is not None:
        a = alpha[0] if alpha.dim() == 4 else alpha
        if p.suffix.lower() in (".png", ".webp", ".tif", ".tiff"):
            x = torch.cat([x, a.to(x)], dim=0)
    array = (x.detach().float().clamp(0, 1) * 255.0).round().byte().permute(1, 2, 0).cpu().numpy()
    options = {"quality": 95} if fmt == "JPEG" else {}
    return atomic_write(
        p, lambda fh: Image.fromarray(array).save(fh, format=fmt, **options), overwrite=overwrite
    )
