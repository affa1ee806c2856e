"""Validation of numbers given on the command line or in the environment, in one place.

Each ``argparse`` type here refuses a bad value while the arguments are parsed, so a typo (``--fps
0``, ``--size -1``, ``--style-weights inf,1``) costs no model load and no compute, and every
sub-command words the refusal the same way. The helpers raise ``argparse.ArgumentTypeError``;
:func:`parse_pixel_count` is also used for the ``CCPL_MAX_PIXELS`` environment variable, and
:func:`style_weights`, which matches weights to the styles given, raises InputError. Which option
uses which validator, with which bounds, is declared on the option sets (:mod:`ccpl_core.declared`).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence

from .errors import InputError


def _num(x: float) -> str:
    """A bound as people read it: whole numbers in full (4294967295, not 4.29497e+09)."""
    return str(x) if isinstance(x, int) else f"{x:g}"


def _bounds(low: float | None, high: float | None, low_open: bool = False) -> str:
    if low is not None and high is not None:
        if low_open:
            return f"above {_num(low)} and at most {_num(high)}"
        return f"between {_num(low)} and {_num(high)}"
    if low is not None:
        return f"{'>' if low_open else '>='} {_num(low)}"
    return f"<= {_num(high)}" if high is not None else "finite"


def finite_float(
    low: float | None = None, high: float | None = None, low_open: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite float in [low, high] (``low_open``: strictly above ``low``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        ok = math.isfinite(value)
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value <= high
        if not ok:
            raise argparse.ArgumentTypeError(
                f"expected a finite number {_bounds(low, high, low_open)}, got {text!r}"
            )
        return value

    return parse


def int_range(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(
                f"expected a whole number {_bounds(low, high)}, got {text!r}"
            )
        return value

    return parse


#: A whole number >= 1 (counts, batch sizes).
positive_int = int_range(1)
#: A whole number >= 0 (sizes where 0 means "keep").
non_negative_int = int_range(0)


def zero_or_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: 0 (an "off" value) or a whole number >= ``minimum`` (e.g. tile sizes)."""

    def parse(text: str) -> int:
        value = int_range()(text)
        if value != 0 and value < minimum:
            raise argparse.ArgumentTypeError(
                f"expected 0 or a whole number >= {minimum}, got {text!r}"
            )
        return value

    return parse


def multiple_of(step: int, low: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``low`` divisible by ``step`` (e.g. crop sizes)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or value % step:
            raise argparse.ArgumentTypeError(
                f"expected a whole number that is a multiple of {step} and >= {low}, got {text!r}"
            )
        return value

    return parse


#: A random seed: a whole number in [0, 2**32 - 1] (what every generator takes).
seed = int_range(0, 2**32 - 1)


def int_list(text: str) -> list[int]:
    """An argparse type: comma-separated whole numbers >= 1 (e.g. frame intervals)."""
    values = [positive_int(x.strip()) for x in text.split(",") if x.strip()]
    if not values:
        raise argparse.ArgumentTypeError(
            f"expected whole numbers >= 1 separated by commas: {text!r}"
        )
    return values


def weights(text: str) -> list[float]:
    """An argparse type: blend weights, finite and >= 0, with a positive sum (``0.7,0.3``)."""
    parts = [x.strip() for x in text.split(",") if x.strip()]
    try:
        values = [float(x) for x in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, got {text!r}"
        ) from None
    if not values or not all(math.isfinite(v) and v >= 0 for v in values) or sum(values) <= 0:
        raise argparse.ArgumentTypeError(
            f"expected finite weights >= 0 with a positive sum, got {text!r}"
        )
    return values


def style_weights(
    given: str | Sequence[float] | None, count: int, name: str, per: str
) -> list[float] | None:
    """Blend weights for ``count`` styles, the one parser for the CLI and the nodes: None (equal
    weights) when nothing is given; text is read like :func:`weights`; one weight per style
    (``per`` names the styles: ``--style``, ``style image(s)``). Refusals are InputError."""
    if given is None or (isinstance(given, str) and not given.strip()):
        return None
    if isinstance(given, str):
        try:
            given = weights(given)
        except argparse.ArgumentTypeError as exc:
            raise InputError(f"{name}: {exc}") from None
    if len(given) != count:
        raise InputError(
            f"{name}: {len(given)} weights for {count} {per}; give {count} (one per style), or "
            "none for equal weights"
        )
    return list(given)


def parse_pixel_count(text: str) -> int:
    """A pixel count >= 1, written as a number (``268435456``) or as a size (``16384x16384``)."""
    raw = text.strip().lower()
    try:
        if "x" in raw:
            w, h = (int(v) for v in raw.split("x"))
            value = w * h if w > 0 and h > 0 else 0
        else:
            value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a pixel count such as 268435456 or 16384x16384, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive pixel count such as 268435456 or 16384x16384, got {text!r}"
        )
    return value
