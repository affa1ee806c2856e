"""Environment variables, each read through one checked reader: a bad value is one InputError
line that names the variable, says what was wrong and what to do, instead of a traceback from
whatever parses it first (``int("")`` in a launcher's variable, the Hub client's import).

An empty ``CCPL_*`` variable counts as unset, as an empty shell variable usually does; the
distributed-training variables are set by a launcher (torchrun), so an empty one is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError

#: Variables torchrun sets for every process of a distributed run.
DISTRIBUTED = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
#: Hub client variables it parses as whole seconds when it is imported.
HUB_SECONDS = ("HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT")


def text(name: str) -> str | None:
    """The variable's value, None when unset or empty."""
    return os.environ.get(name) or None


def whole(
    name: str, default: int, low: int = 0, high: int | None = None, empty: bool = True
) -> int:
    """A whole number from ``low`` to ``high``; ``default`` when unset (or empty, if
    ``empty``)."""
    raw = os.environ.get(name)
    if raw is None or (raw == "" and empty):
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise InputError(
            f"{name}={raw!r} in the environment is not a whole number {span}; fix it or unset it"
        )
    return value


def folder(name: str) -> Path | None:
    """A folder path (it may not exist yet, but must not be a file); None when unset."""
    raw = text(name)
    if raw is None:
        return None
    path = Path(raw).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(
            f"{name}={raw!r} in the environment is a file, not a folder; point it at a folder "
            "or unset it"
        )
    return path


def file(name: str) -> Path | None:
    """An existing file path; None when unset."""
    raw = text(name)
    if raw is None:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        state = "a folder" if path.is_dir() else "not found"
        raise InputError(
            f"{name}={raw!r} in the environment: the file is {state}; point it at a file or "
            "unset it"
        )
    return path


def world_size() -> int:
    """Processes of a distributed run (1 without a launcher); with more than one, every
    variable torchrun sets is checked too, before the process group reads them."""
    size = whole("WORLD_SIZE", 1, low=1, empty=False)
    if size > 1:
        for name in DISTRIBUTED:
            if os.environ.get(name) is None or not os.environ[name].strip():
                raise InputError(
                    f"{name} is {'empty' if name in os.environ else 'unset'} but WORLD_SIZE is "
                    f"{size}: start distributed training with torchrun, which sets it"
                )
        whole("RANK", 0, low=0, high=size - 1, empty=False)
        whole("LOCAL_RANK", 0, low=0, empty=False)
        whole("MASTER_PORT", 0, low=1, high=65535, empty=False)
    return size


def local_rank() -> int:
    """This process's GPU index on its machine (LOCAL_RANK, 0 without a launcher)."""
    return whole("LOCAL_RANK", 0, low=0, empty=False)


def check_hub() -> None:
    """The Hub client's number variables, checked before it is imported (it parses them then,
    and a bad one fails the import with a traceback)."""
    for name in HUB_SECONDS:
        whole(name, 0, low=1)
