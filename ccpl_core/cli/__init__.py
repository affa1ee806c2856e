"""The ``ccpl`` command line: one sub-command per module, each a thin layer over ccpl_core."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ..errors import CCPLError
from . import evaluate, finetune, stylize, train, video, weights

#: Sub-command modules; each has ``register(subparsers)`` that sets ``func`` on its parser.
COMMANDS = (stylize, video, train, finetune, weights, evaluate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    parser = build_parser()
    args = parser.parse_args(argv)
    _show_warnings(args.command)
    try:
        return int(args.func(args) or 0)
    except CCPLError as exc:
        print(f"ccpl {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ccpl {args.command}: interrupted", file=sys.stderr)
        return 130
