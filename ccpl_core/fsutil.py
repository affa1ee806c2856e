"""Small file-system helpers shared by the writers."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

#: Bytes of the output name kept in a temporary name: the rest (".", ".", 8 random characters,
#: ".partial") adds 18, so a temporary name stays far below the usual 255-byte limit even for an
#: output name that uses all of it (the name was checked to fit; its temporary must fit too).
TEMP_STEM_BYTES = 100
#: Longest temporary name :func:`atomic_write` makes, in bytes.
TEMP_NAME_MAX = TEMP_STEM_BYTES + len("." + "." + "12345678" + ".partial")


def umask() -> int:
    """The process umask (temporary files are created 0600; final files follow the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` through a temporary file in the same folder and an atomic rename.

    A reader never sees a half-written file, and a failure leaves neither a partial file nor a
    changed target.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{short_name(p.name)}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def short_name(name: str) -> str:
    """``name`` cut to :data:`TEMP_STEM_BYTES` bytes on a character boundary (it is only a hint
    of which output the temporary file belongs to)."""
    while len(os.fsencode(name)) > TEMP_STEM_BYTES:
        name = name[:-1]
    return name
