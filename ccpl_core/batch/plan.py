"""What a batch run does, decided before any model loads: one job per input image.

Inputs are a folder tree (walked recursively; hidden files and folders skipped) or a text file
listing images (one path a line, relative to the list's folder; ``#`` starts a comment). Each
output lies at the input's relative path under the output folder, with the output format's
suffix. A job's style is fixed (one style, or a blend), or drawn from a style folder by a
seeded hash of the input's relative path: the same input and seed get the same style whatever
the order, the engine or the size of the cluster.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import InputError
from ..fsutil import natural_key
from ..images import IMAGE_SUFFIXES

#: Output formats: a suffix, or ``same`` to keep each input's.
FORMATS = ("png", "jpg", "webp", "same")


@dataclass(frozen=True)
class ImageJob:
    """Stylise ``source`` with ``styles`` (blended by ``weights``, None = equal) into ``output``."""

    source: str
    output: str
    styles: tuple[str, ...]
    weights: tuple[float, ...] | None = None


def find_inputs(given: str | os.PathLike) -> list[tuple[Path, PurePosixPath]]:
    """Each input image with its path relative to the tree (or list), in natural order."""
    root = Path(given)
    if root.is_dir():
        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                    path = Path(dirpath) / name
                    found.append((path, PurePosixPath(path.relative_to(root).as_posix())))
        if not found:
            raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under folder {root}")
        return sorted(found, key=lambda item: [natural_key(p) for p in item[1].parts])
    if root.is_file():
        return _listed(root)
    raise InputError(f"input not found: {root} (give a folder of images or a text list of them)")


def _listed(listing: Path) -> list[tuple[Path, PurePosixPath]]:
    base = listing.parent
    try:
        lines = listing.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{listing} is not a text list of images (one path a line): {exc.reason}"
        ) from exc
    out = []
    for number, line in enumerate(lines, 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        path = base / entry
        if Path(entry).suffix.lower() not in IMAGE_SUFFIXES:
            raise InputError(
                f"{listing} line {number}: {entry} is not an image ({', '.join(IMAGE_SUFFIXES)})"
            )
        try:
            rel = PurePosixPath(path.resolve().relative_to(base.resolve()).as_posix())
        except ValueError:  # outside the list's folder: its absolute path, rooted at the output
            rel = PurePosixPath(*path.resolve().parts[1:])
        out.append((path, rel))
    if not out:
        raise InputError(f"{listing} lists no images")
    return out


def style_folder(folder: str | os.PathLike) -> list[Path]:
    """The style images of a folder (not its subfolders), in natural order."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"`style_folder` {root} is not a folder")
    styles = sorted(
        (p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
        key=natural_key,
    )
    if not styles:
        raise InputError(f"`style_folder` {root} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return styles


def draw_style(rel: PurePosixPath, seed: int, count: int) -> int:
    """Which of ``count`` styles the input at ``rel`` gets with ``seed``."""
    digest = hashlib.sha256(f"{seed}\0{rel}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def output_path(root: Path, rel: PurePosixPath, fmt: str) -> Path:
    """Where the input at ``rel`` goes under ``root`` in format ``fmt``."""
    out = root.joinpath(*rel.parts)
    return out if fmt == "same" else out.with_suffix(f".{fmt}")


def plan_jobs(
    inputs: list[tuple[Path, PurePosixPath]],
    output: Path,
    fmt: str,
    styles: list[Path],
    weights: list[float] | None = None,
    seed: int | None = None,
) -> list[ImageJob]:
    """One job per input; with ``seed`` each gets one of ``styles`` drawn by :func:`draw_style`,
    without it all of them blended by ``weights``. Two inputs that would share an output (a.jpg
    and a.png with format png) are refused."""
    if fmt not in FORMATS:
        raise InputError(f"`format` {fmt}: choose one of {', '.join(FORMATS)}")
    jobs, seen = [], {}
    for src, rel in inputs:
        dst = output_path(output, rel, fmt)
        if dst in seen:
            raise InputError(
                f"{seen[dst]} and {src} would both be written to {dst}; use `format` same or "
                "rename one"
            )
        seen[dst] = src
        if seed is None:
            chosen = tuple(str(s) for s in styles)
            blend = tuple(weights) if weights else None
        else:
            chosen, blend = (str(styles[draw_style(rel, seed, len(styles))]),), None
        jobs.append(ImageJob(str(src), str(dst), chosen, blend))
    return jobs
