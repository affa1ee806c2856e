"""The one write path of every output: a private temporary beside the target, published only
when complete, and never over something that exists unless ``overwrite`` says so.

Every file or folder ccpl produces (images, videos, frame folders, JSON, models, checkpoints)
goes through :class:`Staged`:

* the temporary is created exclusively (``mkstemp``/``mkdtemp``: ``O_CREAT | O_EXCL``, a random
  name, mode 0600/0700) in the target's folder: a file or symlink planted under any name is
  never opened or followed, two runs never share a temporary, and the final move stays on one
  file system;
* it is removed on every exit path: an exception, Ctrl-C, or SIGTERM/SIGHUP, which
  :mod:`ccpl_core.stopping` turns into the same exception;
* :meth:`Staged.commit` publishes it, deciding at the moment of the move, in the kernel, whether
  something is in the way (an earlier check cannot see a file that appears during the run):

  - a file without ``overwrite``: ``link(tmp, final)``, which fails with EEXIST if anything
    (a file, a folder, a symlink, even a dangling one) is there, then ``unlink(tmp)``. On a file
    system without hard links (FAT, some network shares) the final name is first reserved with
    ``open(final, O_CREAT | O_EXCL | O_NOFOLLOW)`` and the temporary renamed over that
    reservation; only a run that may replace outputs (``overwrite``) could take it in between;
  - a folder without ``overwrite``: ``rename(tmp, final)``, which fails if ``final`` is a file,
    a symlink or a folder with anything in it (an empty folder is replaced: nothing is lost);
  - with ``overwrite``: ``rename`` replaces the entry itself, so a symlink at ``final`` is
    replaced, never written through; an old folder is first moved into a private folder and
    removed once the new one is in place.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from .errors import InputError, OutputExists

#: Bytes of the output name kept in a temporary name: the rest (".", ".", 8 random characters,
#: ".partial") adds 18, so a temporary name stays far below the usual 255-byte limit even for an
#: output name that uses all of it (the name was checked to fit; its temporary must fit too).
TEMP_STEM_BYTES = 100
#: Suffix of every temporary name: no image or video suffix, so no reader takes one for a frame.
TEMP_SUFFIX = ".partial"
#: Longest temporary name :class:`Staged` makes, in bytes.
TEMP_NAME_MAX = TEMP_STEM_BYTES + len("." + "." + "12345678" + TEMP_SUFFIX)
#: errno values of ``link`` on a file system that has no hard links.
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS}


def umask() -> int:
    """The process umask (temporary files are created 0600; final files follow the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


class Staged:
    """A temporary file (``file``, open for writing and reading) or folder (``folder``) beside
    ``final``; :meth:`commit` publishes it, leaving the ``with`` block without it removes it.

    ``overwrite``: whether the commit may replace what is at ``final`` (see the module's
    docstring for how each case is decided).
    """

    def __init__(
        self, final: str | os.PathLike, *, folder: bool = False, overwrite: bool = False
    ) -> None:
        self.final = Path(final)
        self.overwrite = overwrite
        self.is_folder = folder
        self.file: BinaryIO | None = None
        self.done = False
        parent = self.final.parent
        parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{short_name(self.final.name)}."
        if folder:
            self.path = Path(tempfile.mkdtemp(dir=parent, prefix=prefix, suffix=TEMP_SUFFIX))
        else:
            fd, name = tempfile.mkstemp(dir=parent, prefix=prefix, suffix=TEMP_SUFFIX)
            self.path = Path(name)
            self.file = os.fdopen(fd, "w+b")

    def __enter__(self) -> Staged:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.done:
            self.discard()

    def commit(self) -> Path:
        """Publish the temporary as ``final`` (flushed to disk, permissions by the umask).

        :class:`~ccpl_core.errors.OutputExists` if something is in the way and ``overwrite`` is
        not set; the temporary is removed whatever happens.
        """
        try:
            if self.file is not None:
                self.file.flush()
                os.fsync(self.file.fileno())
                os.fchmod(self.file.fileno(), 0o666 & ~umask())
                self.file.close()
                _publish_file(self.path, self.final, self.overwrite)
            else:
                os.chmod(self.path, 0o777 & ~umask())
                _publish_folder(self.path, self.final, self.overwrite)
        except BaseException:
            self.discard()
            raise
        self.done = True
        return self.final

    def discard(self) -> None:
        """Remove the temporary (and close its file)."""
        if self.file is not None and not self.file.closed:
            self.file.close()
        if self.is_folder:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            self.path.unlink(missing_ok=True)
        self.done = True


def atomic_write(
    path: str | os.PathLike, write: Callable[[BinaryIO], None], overwrite: bool = False
) -> Path:
    """Write ``path`` with ``write(file)`` through :class:`Staged`: a reader never sees a
    half-written file, a failure leaves neither a temporary nor a changed target, and an
    existing ``path`` is replaced only with ``overwrite``."""
    with Staged(path, overwrite=overwrite) as staged:
        assert staged.file is not None
        write(staged.file)
        return staged.commit()


def _exists_error(final: Path) -> OutputExists:
    return OutputExists(
        f"output exists: {final} (nothing was replaced); choose another name or allow `overwrite`"
    )


def _publish_file(tmp: Path, final: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, final)
        return
    try:
        os.link(tmp, final, follow_symlinks=False)
    except FileExistsError:
        raise _exists_error(final) from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        _reserve(final)
        os.replace(tmp, final)
    else:
        os.unlink(tmp)


def _reserve(final: Path) -> None:
    """Claim ``final`` with an empty file, refusing anything (a symlink too) already there."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        os.close(os.open(final, flags, 0o600))
    except FileExistsError:
        raise _exists_error(final) from None


def _publish_folder(tmp: Path, final: Path, overwrite: bool) -> None:
    try:
        os.rename(tmp, final)
        return
    except OSError as exc:
        taken = exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR)
        if not (taken and os.path.lexists(final)):
            raise
        if not overwrite:
            raise _exists_error(final) from None
    trash = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{short_name(final.name)}."))
    os.rename(final, trash / "old")  # the entry itself: a symlink is moved, not followed
    try:
        os.rename(tmp, final)
    except BaseException:
        os.rename(trash / "old", final)
        raise
    finally:
        if (trash / "old").is_dir() and not (trash / "old").is_symlink():
            shutil.rmtree(trash, ignore_errors=True)
        else:
            (trash / "old").unlink(missing_ok=True)
            os.rmdir(trash)


def short_name(name: str) -> str:
    """``name`` cut to :data:`TEMP_STEM_BYTES` bytes on a character boundary (it is only a hint
    of which output the temporary file belongs to)."""
    while len(os.fsencode(name)) > TEMP_STEM_BYTES:
        name = name[:-1]
    return name


def refuse_inputs(
    outputs: str | os.PathLike | Iterable[str | os.PathLike],
    inputs: Iterable[str | os.PathLike | None],
    what: str = "-o",
    folder: bool = False,
) -> None:
    """Refuse, before any work, an output that is one of the command's inputs.

    The same file is found by its real path (symlinks resolved) and by device and inode (hard
    links); a ``folder`` output must not hold an input either, since replacing it removes its
    contents. Inputs that are not paths (None, a manifest name) are ignored.
    """
    if isinstance(outputs, str | os.PathLike):
        outputs = [outputs]
    by_path: dict[str, str | os.PathLike] = {}
    by_id: dict[tuple[int, int], str | os.PathLike] = {}
    for given in inputs:
        if given is None or not os.path.lexists(given):
            continue
        by_path.setdefault(os.path.realpath(given), given)
        ident = _file_id(Path(given))
        if ident is not None:
            by_id.setdefault(ident, given)
    for output in outputs:
        real = os.path.realpath(output)
        same = by_path.get(real) or by_id.get(_file_id(Path(output)) or (-1, -1))
        inside = None
        if folder and same is None:
            base = real.rstrip(os.sep) + os.sep
            inside = next((g for r, g in by_path.items() if r.startswith(base)), None)
        if same is not None or inside is not None:
            where = f"is the input {same}" if same is not None else f"holds the input {inside}"
            raise InputError(
                f"{what} {output} {where}: writing it would destroy that input; choose another "
                "output"
            )


def natural_key(path: str | os.PathLike) -> list:
    """Sort key that orders numbered names as people count: 1.png, 2.png, ..., 10.png."""
    name = Path(path).name
    parts = _DIGITS.split(name)
    return [int(p) if i % 2 else p for i, p in enumerate(parts)] + [name]


_DIGITS = re.compile(r"([0-9]+)")


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino
