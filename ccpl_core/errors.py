"""Exceptions with messages meant for people: what was wrong, with which input, what to do.

Messages are written for every surface: they name an option in backticks by its declared name
(`size`, `max_pixels`, see :mod:`ccpl_core.option_specs`), never by one surface's spelling of it;
:func:`for_cli` turns those names into flags (``--max-pixels``), the nodes show them as they are
(input names).
"""

from __future__ import annotations

import errno
import re


class CCPLError(Exception):
    """Base class of every error ccpl_core raises on purpose."""


class InputError(CCPLError, ValueError):
    """An image, mask, option or file given by the caller is unusable."""


class OutputExists(InputError):
    """An output would replace something that exists (found at the moment of the move)."""


class ModelError(CCPLError):
    """A model file is missing, corrupt, of the wrong mode or of the wrong layout."""


class OutOfMemory(CCPLError, MemoryError):
    """Stylisation did not fit in memory even with the smallest tile size."""


#: errno values whose one-line message gets a hint of what to do.
_HINTS = {
    errno.EACCES: "check the permissions or choose another place",
    errno.EPERM: "check the permissions or choose another place",
    errno.EROFS: "the file system is read-only: choose another place",
    errno.ENOSPC: "the disk is full: free some space or choose another place",
    errno.EDQUOT: "the disk quota is exceeded: free some space or choose another place",
    errno.ENAMETOOLONG: "use a shorter name",
    errno.EEXIST: "a file is in the way: move it or choose another name",
    errno.ENOTDIR: "a file stands where a folder is needed: choose another path",
    errno.EISDIR: "a folder stands where a file is needed: choose another name",
    errno.ENOENT: "check the path",
}


def expected_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean "this input or this machine cannot do it", not a bug.

    They are worth one line to a person (see :func:`describe`); anything else is a bug and keeps
    its traceback. PyAV and OpenCV are optional, so their types join only when installed.
    """
    from PIL import Image

    kinds: list[type[BaseException]] = [
        CCPLError,
        OSError,
        MemoryError,
        Image.DecompressionBombError,
    ]
    try:
        import av

        kinds.append(av.error.FFmpegError)
    except ImportError:
        pass
    try:
        import cv2

        kinds.append(cv2.error)
    except ImportError:
        pass
    try:
        import torch

        kinds.append(torch.OutOfMemoryError)
    except (ImportError, AttributeError):
        pass
    return tuple(kinds)


def describe(exc: BaseException) -> str:
    """One line for an expected failure: what failed, on which file, and what to do."""
    if isinstance(exc, CCPLError):
        return str(exc)
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return (
            "out of memory: use a smaller `size`, `tile` or `batch`, close other programs, or "
            "run on the CPU (`device` cpu)"
        )
    name = getattr(exc, "filename", None)
    reason = getattr(exc, "strerror", None) or _last_line(exc) or type(exc).__name__
    if isinstance(exc, OSError):
        where = f"{name}: " if name else ""
        other = getattr(exc, "filename2", None)
        if other:
            where = f"{name} -> {other}: "
        hint = _HINTS.get(exc.errno) if exc.errno is not None else None
        return f"{where}{reason}" + (f"; {hint}" if hint else "")
    kind = type(exc).__module__.split(".")[0]
    origin = {"cv2": "OpenCV", "av": "FFmpeg (PyAV)", "PIL": "Pillow"}.get(kind, kind)
    where = f"{name}: " if name else ""
    return f"{where}{origin} failed: {reason}"


#: An option named in a message: `name`.
_OPTION = re.compile(r"`([a-z][a-z0-9_]*)`")


def for_cli(message: str) -> str:
    """A message with its option names spelt as command-line flags (`max_pixels` ->
    --max-pixels)."""
    return _OPTION.sub(lambda m: "--" + m[1].replace("_", "-"), message)


def _last_line(exc: BaseException) -> str:
    """The last non-empty line of an exception's text (OpenCV's messages span several)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else ""
