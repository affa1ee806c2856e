"""The ``ccpl`` command line: one sub-command per module, each a thin layer over ccpl_core.

:func:`run_reporting` is the one place where failures become messages: a bad option, a bad
input or a failure of the machine (permissions, a full disk, memory, a damaged file that a
library refuses) is one line, ``ccpl COMMAND: error: ...``, naming the file and what to do, with
exit code 2. Ctrl-C, SIGTERM and SIGHUP stop a command alike (:mod:`ccpl_core.stopping`): its
temporary files are removed, a training saves its step, and it exits with 130 and one line.
Anything else is a bug in ccpl and keeps its traceback. The benchmarks and tools run their
``main`` through it too, so that a reader reproducing a figure meets the same lines.

File names are whatever bytes the OS holds; a name that is not valid in the terminal's encoding
is printed with backslash escapes rather than stopping a batch with an encoding error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import describe, expected_errors, for_cli
from ..stopping import STOPPED_EXIT, how_stopped, signals_interrupt
from . import batch, evaluate, finetune, stylize, train, video, weights

#: Sub-command modules; each has ``register(subparsers)`` that sets ``func`` on its parser.
COMMANDS = (stylize, batch, video, train, finetune, weights, evaluate)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose refusals are one line, like every other ccpl error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``ccpl`` parser with every sub-command registered."""
    parser = _Parser(
        prog="ccpl",
        description="CCPL/SCT neural style transfer for images and video.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


class _WarningLines(logging.Handler):
    """Core warnings (e.g. an output adjusted to what a container takes) as one line each."""

    command = "ccpl"

    def emit(self, record: logging.LogRecord) -> None:
        print(f"ccpl {self.command}: warning: {record.getMessage()}", file=sys.stderr)


_WARNINGS = _WarningLines(logging.WARNING)


def _show_warnings(command: str) -> None:
    log = logging.getLogger("ccpl")
    _WARNINGS.command = command
    if _WARNINGS not in log.handlers:
        log.addHandler(_WARNINGS)
    log.setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``ccpl`` command; the exit status is 0, 2 for a refusal or 130 if interrupted."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a refused option (2, its line already printed)
        return exc.code if isinstance(exc.code, int) else 2
    _show_warnings(args.command)
    _escape_unprintable_names()
    return run_reporting(lambda: args.func(args), f"ccpl {args.command}")


def _escape_unprintable_names() -> None:
    """Print what the terminal's encoding cannot hold (a file name that is not valid UTF-8,
    kept by Python as surrogates) as backslash escapes instead of failing mid-batch."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", None) == "strict":
            reconfigure(errors="backslashreplace")


def run_reporting(func: Callable[[], int | None], name: str | None = None) -> int:
    """``func()``'s exit status, with expected failures as one line ``NAME: error: ...`` (2)
    and a stop (Ctrl-C, SIGTERM, SIGHUP) as ``NAME: interrupted`` (130). ``name`` defaults to
    the running script's."""
    name = name or Path(sys.argv[0]).name
    try:
        with signals_interrupt():
            return int(func() or 0)
    except KeyboardInterrupt as exc:
        print(f"{name}: {how_stopped(exc)}", file=sys.stderr)
        return STOPPED_EXIT
    except expected_errors() as exc:
        print(f"{name}: error: {for_cli(describe(exc))}", file=sys.stderr)
        return 2
