"""The ``ccpl`` command line: one sub-command per module, each a thin layer over ccpl_core."""

from __future__ import annotations

import argparse
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CCPLError as exc:
        print(f"ccpl {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ccpl {args.command}: interrupted", file=sys.stderr)
        return 130
