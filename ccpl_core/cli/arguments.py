"""Command-line flags built from the option declarations, and the groups of flags commands share.

:func:`add_argument` turns one :class:`~ccpl_core.option_specs.Option` into a flag (its name
with dashes, its validator as the type, its choices, its help with the default); the ``*_group``
functions add what several commands have in common, so each is spelled, checked and explained
the same way everywhere.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..option_specs import (
    ALPHA,
    COLOR_METHOD,
    DEVICE,
    MODE,
    PALETTE,
    PRECISION,
    PRESERVE_COLOR,
    STYLE_SIZE,
    STYLE_WEIGHTS,
    WCT,
    Option,
)
from ..options import int_range, parse_pixel_count, style_weights

#: Either a parser or one of its argument groups.
Parser = argparse.ArgumentParser | argparse._ArgumentGroup


def add_argument(parser: Parser, option: Option, *flags: str, **overrides: Any) -> argparse.Action:
    """Add ``option`` as a flag (``feature_blend`` -> ``--feature-blend``, or ``flags``).

    ``overrides`` are ``argparse`` keywords that replace the declared ones (``default``,
    ``required``, ...), plus ``default_text``: how the help shows a ``None`` default. ``help``
    replaces the declared phrase; the default is appended either way.
    """
    text = overrides.pop("help", option.help)
    shown = overrides.pop("default_text", None)
    kwargs: dict[str, Any] = {"dest": option.dest, "default": option.default}
    if option.kind == "bool":
        kwargs["action"] = "store_true"
    elif option.kind == "choice":
        kwargs["choices"] = option.choices
    elif option.kind != "text":
        kwargs["type"] = option.validator()
    kwargs.update(overrides)
    default = kwargs["default"]
    if shown is None:
        shown = option.default_text() if default == option.default else default
    if shown is not None:
        text = f"{text} (default{':' if default is None else ''} {shown})"
    kwargs["help"] = text.replace("%", "%%")  # argparse formats help with %
    action = parser.add_argument(*(flags or (option.flag,)), **kwargs)
    action.declared = option  # type: ignore[attr-defined]  # which declaration made the flag
    return action


# ---------------------------------------------------------------------------------- model


def model_group(
    parser: argparse.ArgumentParser,
    help: str = "model name from the manifest, .safetensors file or folder",
    mode: bool = True,
) -> argparse._ArgumentGroup:
    """``--model`` (default: the manifest's default model of ``--mode``), ``--manifest``,
    ``--models-dir`` and, with ``mode``, ``--mode``; see :func:`model_options`."""
    group = parser.add_argument_group("model")
    default = "of --mode (art without one)" if mode else "art model"
    group.add_argument(
        "--model", default=None, help=f"{help} (default: the manifest's default {default})"
    )
    group.add_argument(
        "--manifest", default=None, help="weights manifest (default: $CCPL_MANIFEST)"
    )
    group.add_argument(
        "--models-dir",
        default=None,
        help="folder of downloaded/shared weights (default: $CCPL_MODELS_DIR)",
    )
    if mode:
        add_argument(group, MODE)
    return group


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keywords for :func:`ccpl_core.loading.load_model` from the model group, the one model
    resolution of every command: ``load_model(args.model, **model_options(args))`` loads what
    ``--model`` names, or without it the manifest's default model of ``--mode`` (art)."""
    return {
        "mode": getattr(args, "mode", None),
        "models_dir": getattr(args, "models_dir", None),
        "manifest": getattr(args, "manifest", None),
    }


# ---------------------------------------------------------------------------------- style


def style_group(
    parser: argparse.ArgumentParser,
    help: str = "style image; repeat to blend several styles",
    blend: bool = True,
) -> argparse._ArgumentGroup:
    """``--style`` (repeatable, required) and, with ``blend``, ``--style-weights`` and
    ``--style-size``; :func:`style_weights_of` checks the weights against the styles."""
    group = parser.add_argument_group("style")
    group.add_argument("--style", action="append", required=True, help=help)
    if blend:
        add_argument(group, STYLE_WEIGHTS)
        add_argument(group, STYLE_SIZE)
    return group


def style_weights_of(args: argparse.Namespace) -> list[float] | None:
    """``--style-weights`` matched to the ``--style`` images (None: equal weights)."""
    return style_weights(args.style_weights, len(args.style), "--style-weights", "--style")


def color_arguments(parser: Parser) -> None:
    """``--preserve-color`` and ``--color-method``: the CLI's spelling of PRESERVE_COLOR."""
    parser.add_argument(
        "--preserve-color",
        action="store_true",
        help="keep the content's colours (see --color-method)",
    )
    add_argument(parser, COLOR_METHOD)


def color_method(args: argparse.Namespace) -> str:
    """The colour preservation the flags ask for: one of ``ccpl_core.color.COLOR_METHODS``."""
    return args.color_method if args.preserve_color else PRESERVE_COLOR.default


def picture_arguments(parser: Parser) -> None:
    """What every stylising command asks of the picture: ``--alpha``, ``--palette``, ``--wct``
    and colour preservation."""
    for option in (ALPHA, PALETTE, WCT):
        add_argument(parser, option)
    color_arguments(parser)


# ------------------------------------------------------------------------- device, output


def device_group(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """``--device`` and ``--precision``."""
    group = parser.add_argument_group("device")
    add_argument(group, DEVICE)
    add_argument(group, PRECISION)
    return group


def output_group(
    parser: argparse.ArgumentParser, help: str, overwrite: bool = True
) -> argparse._ArgumentGroup:
    """``-o/--output`` (required) and, with ``overwrite``, ``--overwrite``."""
    group = parser.add_argument_group("output")
    group.add_argument("-o", "--output", required=True, help=help)
    if overwrite:
        group.add_argument("--overwrite", action="store_true", help="replace an existing output")
    return group


def max_pixels_argument(parser: Parser, what: str = "image read or written") -> None:
    """``--max-pixels``: the largest picture a command reads or writes."""
    parser.add_argument(
        "--max-pixels",
        type=parse_pixel_count,
        default=None,
        help=f"largest {what}, as a pixel count or WxH (default: $CCPL_MAX_PIXELS or 16384x16384)",
    )


def existing_arguments(group: Parser, outputs: str) -> None:
    """``--overwrite`` or ``--skip-existing`` (one of them): what to do with ``outputs`` that
    exist already."""
    choice = group.add_mutually_exclusive_group()
    choice.add_argument("--overwrite", action="store_true", help=f"replace existing {outputs}")
    choice.add_argument(
        "--skip-existing",
        action="store_true",
        help=f"leave existing {outputs} alone and stylise the others (resumes a stopped run)",
    )


# ---------------------------------------------------------------------------------- engine


def engine_group(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """``--engine`` (local or ray), ``--address``, ``--workers``, ``--cpus-per-worker`` and
    ``--retries``; :func:`engine_of` makes the :class:`~ccpl_core.cluster.Engine`."""
    from ..cluster import ENGINES

    group = parser.add_argument_group("engine")
    group.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local: this process; ray: a pool of Ray actors, each holding the model (needs "
        "pip install 'comfyui-ccpl[cluster]') (default local)",
    )
    group.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join (auto, ray://head:10001); default: start one on this machine",
    )
    group.add_argument(
        "--workers",
        type=int_range(1, 100_000),
        default=None,
        help="Ray actors (default: one per GPU, else one per node)",
    )
    group.add_argument(
        "--cpus-per-worker",
        type=int_range(1, 1024),
        default=None,
        help="CPU threads of each actor (default: a node's CPUs shared by its actors)",
    )
    group.add_argument(
        "--retries",
        type=int_range(0, 100),
        default=3,
        help="restarts of a worker that dies, and retries of its task (default 3)",
    )
    return group


def engine_of(args: argparse.Namespace) -> Any:
    """The engine the flags ask for; ``--engine ray`` without Ray installed is refused here."""
    from ..cluster import Engine, require_ray

    engine = Engine(
        name=args.engine,
        address=args.address,
        workers=args.workers,
        cpus_per_worker=args.cpus_per_worker,
        retries=args.retries,
    )
    if engine.name == "ray":
        require_ray()
    return engine
