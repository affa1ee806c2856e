"""Small file-system helpers shared by the writers."""

from __future__ import annotations

import os


def umask() -> int:
    """The process umask (temporary files are created 0600; final files follow the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
