"""Every user-facing option, declared once: name, default, help, kind and valid range.

The ``ccpl`` commands build their flags from these declarations
(:func:`ccpl_core.cli.arguments.add_argument`), the ComfyUI nodes their widgets
(``nodes/inputs.py``), and :class:`ccpl_core.video.VideoOptions` its defaults, so a default, a
range or a list of choices is written in one place and the surfaces cannot drift apart. Values
the library owns (colour methods, the palette share, precisions, flow presets, statistics, the
feature-blend default, the finetune presets and loss weights) are read from the library, never
repeated.

Ranges are checked by the validators of :mod:`ccpl_core.options`. ``low``/``high`` are what is
valid (what the CLI accepts); ``widget_low``/``widget_high`` narrow a ComfyUI slider where the
valid range is open-ended or wider than useful (a widget needs bounds), never widen it.
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import options as valid
from .color import COLOR_METHODS
from .masks import DEFAULT_FEATHER
from .models.whitening import DEFAULT_WCT
from .modes import MODE_NAMES
from .palette import DEFAULT_PALETTE
from .planner import MIN_TILE
from .runtime import PRECISIONS
from .training.finetune import PRESETS, finetune
from .video.engine import DEFAULT_FEATURE_BLEND, STATISTICS
from .video.flow import FLOW_PRESETS

#: What an option holds: a number, a switch, one of ``choices``, free text, or blend weights.
KINDS = ("float", "int", "bool", "choice", "text", "weights")


@dataclass(frozen=True)
class Option:
    """One option as every surface shows it.

    ``name`` is the Python name, the ComfyUI input name and, as ``--name-with-dashes``, the CLI
    flag, unless ``cli`` gives the CLI's own (older) name. ``help`` is a phrase without the
    default (each surface adds it its own way). ``shown_default`` says in words what a ``None``
    default means. Integers may be ``multiple`` of a step, or ``zero_off``: 0 (off) or >= ``low``.
    ``step`` is the widget's step.
    """

    name: str
    default: Any
    help: str
    kind: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    step: float | None = None
    multiple: int | None = None
    zero_off: bool = False
    widget_low: float | None = None
    widget_high: float | None = None
    cli: str | None = None
    shown_default: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind {self.kind!r} is not one of {KINDS}")
        if (self.kind == "choice") != bool(self.choices):
            raise ValueError(f"{self.name}: choices go with kind 'choice'")
        if self.multiple and self.high is not None:
            raise ValueError(f"{self.name}: a multiple has no upper bound")
        if self.default is not None:
            self.check(self.default)
        for bound in (self.widget_low, self.widget_high):
            if bound is not None:
                self.check(bound)

    @property
    def dest(self) -> str:
        """The attribute name on the CLI's parsed arguments."""
        return self.cli or self.name

    @property
    def flag(self) -> str:
        """The CLI flag: ``feature_blend`` -> ``--feature-blend``."""
        return "--" + self.dest.replace("_", "-")

    @property
    def widget_range(self) -> tuple[float | None, float | None]:
        """A widget's (min, max): the valid range, narrowed where the declaration says so."""
        low = self.widget_low if self.widget_low is not None else self.low
        high = self.widget_high if self.widget_high is not None else self.high
        return low, high

    def validator(self) -> Callable[[str], Any] | None:
        """The :mod:`ccpl_core.options` validator that parses this option from text (an
        ``argparse`` type); None where argparse checks it itself (choices, switches)."""
        if self.kind == "float":
            return valid.finite_float(self.low, self.high, self.low_open)
        if self.kind == "int":
            if self.multiple:
                return valid.multiple_of(self.multiple, int(self.low or 0))
            if self.zero_off:
                return valid.zero_or_at_least(int(self.low or 0))
            return valid.int_range(self.low, self.high)
        if self.kind == "weights":
            return valid.weights
        if self.kind == "text":
            return str
        return None

    def check(self, value: Any) -> Any:
        """``value`` if it is valid for this option, else ValueError (for the declarations and
        for values that do not come from text)."""
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"{self.name}: {value!r} is not one of {self.choices}")
            return value
        parse = self.validator()
        if parse is not None and self.kind in ("float", "int"):
            try:
                parse(str(value))
            except argparse.ArgumentTypeError as exc:
                raise ValueError(f"{self.name}: {exc}") from None
        return value

    def default_text(self) -> str | None:
        """The default as help texts show it; None when there is nothing to say."""
        if self.kind == "bool" or (self.default is None and self.shown_default is None):
            return None
        return self.shown_default if self.default is None else str(self.default)


_FINETUNE = inspect.signature(finetune).parameters


def _strength(name: str, default: float, help: str) -> Option:
    return Option(name, default, help, "float", low=0.0, high=1.0, step=0.05)


# ------------------------------------------------------------------------------ stylisation

ALPHA = Option(
    "alpha",
    1.0,
    "style strength: 0 = the content, 1 = full style",
    "float",
    low=0.0,
    high=1.0,
    step=0.01,
)
PALETTE = _strength(
    "palette",
    DEFAULT_PALETTE,
    "move the result's colours this share of the way to the style's palette (each colour to the "
    "style's at the same rank): 0 = the network's own colours, 1 = the style's; off when colours "
    "are preserved",
)
WCT = _strength(
    "wct",
    DEFAULT_WCT,
    "mix this share of the closed-form whitening-colouring transform (WCT) into the SCT "
    "network's fusion: more of each style's own texture and colours; 0 = the SCT network alone, "
    "as in the paper",
)
PRESERVE_COLOR = Option(
    "preserve_color",
    COLOR_METHODS[0],
    "keep the content's colours: luminance = transfer the texture only; match = recolour the "
    "style to the content first",
    "choice",
    choices=COLOR_METHODS,
)
#: The CLI's spelling of PRESERVE_COLOR: a switch (``--preserve-color``) and this method.
COLOR_METHOD = Option(
    "color_method",
    "luminance",
    "how colours are preserved: luminance-only transfer, or the style recoloured to match",
    "choice",
    choices=tuple(m for m in COLOR_METHODS if m != PRESERVE_COLOR.default),
)
STYLE_WEIGHTS = Option(
    "style_weights",
    None,
    "comma-separated blend weights >= 0, one per style, e.g. 0.7,0.3",
    "weights",
    shown_default="equal",
)
STYLE_SIZE = Option(
    "style_size",
    512,
    "resize the style's shorter side to this many pixels; 0 keeps it; 512 is what the models "
    "expect",
    "int",
    low=0,
    step=8,
    widget_high=4096,
)
SIZE = Option(
    "size", 512, "resize the content's shorter side to this many pixels; 0 keeps it", "int", low=0
)
TILE = Option(
    "tile",
    None,
    f"tile size in pixels, {MIN_TILE} or more; 0 = never tile",
    "int",
    low=MIN_TILE,
    zero_off=True,
    shown_default="automatic from free memory",
)
MASK_FEATHER = Option(
    "mask_feather",
    DEFAULT_FEATHER,
    "soft edge of the mask: blur radius in pixels",
    "int",
    low=0,
    high=10000,
    widget_high=256,
)
MODE = Option(
    "mode",
    None,
    "artistic or photo-realistic; a model of the other mode is refused",
    "choice",
    choices=MODE_NAMES,
    shown_default="the model's own",
)

# ------------------------------------------------------------------------ device, precision

PRECISION = Option(
    "precision",
    "auto",
    "fp32 is exact; auto uses bf16/fp16 where the hardware is fast at it (within ~1%)",
    "choice",
    choices=PRECISIONS,
)
DEVICE = Option("device", "auto", "where the network runs: auto, cpu, cuda or cuda:N", "text")

# ------------------------------------------------------------------------------------ video

STATISTICS_OPTION = Option(
    "statistics",
    STATISTICS[0],
    "content statistics: per-frame (like images), clip (one normalisation for the whole clip; "
    "reads the input twice) or running (the frames so far)",
    "choice",
    choices=STATISTICS,
)
FEATURE_BLEND = _strength(
    "feature_blend",
    DEFAULT_FEATURE_BLEND,
    "carry the previous frame's features along the optical flow where it is reliable: less "
    "flicker at unchanged style strength; 0 = off",
)
DETAIL_BLEND = _strength(
    "detail_blend",
    0.0,
    "also carry the decoder's full-resolution activations along the flow: texture follows slow "
    "motion too; least flicker, slightly weaker style, frames decoded one at a time; 0 = off, "
    "0.2 measured best",
)
FLOW_BLEND = _strength(
    "flow_blend",
    0.0,
    "blend in the previous stylised frame warped by optical flow where the flow is reliable: "
    "smooth, but softens the style; 0 = off",
)
FLOW_PRESET = Option(
    "flow_preset",
    "medium",
    "optical flow: a DIS preset (speed against accuracy) or farneback",
    "choice",
    choices=tuple(FLOW_PRESETS),
)
BATCH = Option("batch", 8, "frames per network batch", "int", low=1)
FRAME_SIZE = Option(
    "size", 0, "resize the frames' shorter side to this many pixels; 0 keeps it", "int", low=0
)

# --------------------------------------------------------------------------------- finetune

FINETUNE_PRESET = Option(
    "preset",
    _FINETUNE["preset"].default,
    "training recipe: "
    + "; ".join(
        f"{k}: {s} steps, lr {r}, crop {c}, batch {b}" for k, (s, r, c, b) in PRESETS.items()
    ),
    "choice",
    choices=tuple(PRESETS),
)
_STEPS, _LR, _CROP, _BATCH = PRESETS[FINETUNE_PRESET.default]
STEPS = Option("steps", _STEPS, "optimisation steps", "int", low=1, widget_high=200000)
LEARNING_RATE = Option(
    "learning_rate",
    _LR,
    "Adam learning rate",
    "float",
    low=0.0,
    low_open=True,
    step=1e-6,
    widget_low=1e-7,
    widget_high=1e-2,
    cli="lr",
)
CROP_SIZE = Option(
    "crop_size",
    _CROP,
    "training crop size, a multiple of 8",
    "int",
    low=32,
    multiple=8,
    widget_low=64,
    widget_high=1024,
    cli="crop",
)
BATCH_SIZE = Option("batch_size", _BATCH, "crops per step", "int", low=1, widget_high=64)


def _loss_weight(name: str, help: str, widget_high: float) -> Option:
    return Option(name, _FINETUNE[name].default, help, "float", low=0.0, widget_high=widget_high)


CONTENT_WEIGHT = _loss_weight("content_weight", "weight of the content loss", 100.0)
STYLE_WEIGHT = _loss_weight(
    "style_weight", "weight of the style loss (higher = stronger style)", 1000.0
)
CCPL_WEIGHT = _loss_weight("ccpl_weight", "weight of the CCPL coherence loss", 100.0)
SEED = Option(
    "seed",
    _FINETUNE["seed"].default,
    "random seed of the crop sampling",
    "int",
    low=0,
    high=2**32 - 1,
    widget_high=2**31 - 1,
)

# ---------------------------------------------------------------------------------- metrics

METRIC_FLOW = Option(
    "flow",
    FLOW_PRESET.default,
    "optical flow of the metric: a DIS preset, or farneback to cross-check clips that were "
    "blended with DIS flow with an independent algorithm",
    "choice",
    choices=FLOW_PRESET.choices,
)

#: Every declaration, by its Python name in this module.
ALL = {k: v for k, v in dict(globals()).items() if isinstance(v, Option) and not k.startswith("_")}
