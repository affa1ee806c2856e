"""Stopping a long command the same way whatever asked for it: Ctrl-C (SIGINT), SIGTERM (a job
scheduler, a container stop, ``kill``) or SIGHUP (a closed terminal or SSH session).

Python turns only SIGINT into KeyboardInterrupt; SIGTERM and SIGHUP end the process at once and
skip every ``finally``, so temporary files stayed behind and a finetune lost its steps.
:func:`signals_interrupt` makes all three raise :class:`Stopped`, a KeyboardInterrupt, so the one
code path that cleans up after Ctrl-C serves them all; :class:`GracefulStop` lets a loop finish
the step in progress (and save it) first. Both act in the main thread only, where Python runs
signal handlers; elsewhere they change nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

#: The signals that mean "stop" (SIGHUP does not exist on Windows).
STOP_SIGNALS: tuple[int, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
#: Exit status of a stopped command, whichever signal stopped it (the shell's Ctrl-C status).
STOPPED_EXIT = 130


class Stopped(KeyboardInterrupt):
    """A stop asked for by ``signum``, raised where Ctrl-C raises KeyboardInterrupt."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15, and so on."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def how_stopped(exc: BaseException) -> str:
    """ "interrupted" for Ctrl-C, "interrupted by SIGTERM" for another stop signal, followed by
    what the command kept (an ``exc.kept`` a command may set, e.g. "3 of 9 images written")."""
    signum = getattr(exc, "signum", signal.SIGINT)
    text = "interrupted" if signum == signal.SIGINT else f"interrupted by {signal_name(signum)}"
    kept = getattr(exc, "kept", None)
    return f"{text}; {kept}" if kept else text


def _say(text: str) -> None:
    """A line on stderr from a signal handler (``print`` could re-enter a stream in use)."""
    with contextlib.suppress(OSError):
        os.write(2, text.encode() + b"\n")


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _handlers(handler) -> Iterator[None]:
    if not _in_main_thread():
        yield
        return
    old = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, previous in old.items():
            signal.signal(s, previous)


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise :class:`Stopped` once; later ones
    are noted but do not interrupt the cleanup that the first one started."""
    raised = False

    def handle(signum: int, frame: object) -> None:
        nonlocal raised
        if raised:
            _say(f"{signal_name(signum)}: already stopping, cleaning up")
            return
        raised = True
        raise Stopped(signum)

    with _handlers(handle):
        yield


class GracefulStop:
    """The first stop signal asks the loop to stop after its current step (``requested()``,
    which the loop asks between steps); a second one raises :class:`Stopped` at once."""

    def __init__(self, message: str = "stopping after this step (Ctrl-C again to stop at once)"):
        self.message = message
        self.signum: int | None = None

    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum is not None:
            raise Stopped(signum)
        self.signum = signum
        _say(f"{signal_name(signum)}: {self.message}")

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        with _handlers(self._handle):
            yield
