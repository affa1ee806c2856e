"""The surfaces' table of options: every declaration a ``ccpl`` command or a node shows.

The library's option sets declare their options on their own fields and validate with them
(:class:`ccpl_core.pipeline.ImageOptions`, :class:`ccpl_core.video.VideoOptions`,
:class:`ccpl_core.training.TrainConfig`; see :mod:`ccpl_core.declared`). This table collects
them under the names the surfaces use, and declares the few options that only the surfaces have
(sizes, device, model mode, style weights, the finetune preset). The ``ccpl`` commands build
their flags from it (:func:`ccpl_core.cli.arguments.add_argument`), the ComfyUI nodes their
widgets (``nodes/inputs.py``). Nothing in the library imports this module.
"""

from __future__ import annotations

from .color import COLOR_METHODS
from .declared import KINDS, Option, options_of
from .modes import MODE_NAMES
from .pipeline import ALPHA, MASK_FEATHER, PALETTE, PRESERVE_COLOR, WCT
from .planner import TILE
from .runtime import PRECISIONS
from .training.config import TrainConfig
from .training.finetune import PRESET_DEFAULT, PRESETS
from .video.engine import (
    BATCH,
    DETAIL_BLEND,
    FEATURE_BLEND,
    FLOW_BLEND,
    FLOW_PRESET,
    FRAME_SIZE,
    STATISTICS_OPTION,
)

__all__ = [
    "ALPHA",
    "BATCH",
    "DETAIL_BLEND",
    "FEATURE_BLEND",
    "FLOW_BLEND",
    "FLOW_PRESET",
    "FRAME_SIZE",
    "KINDS",
    "MASK_FEATHER",
    "PALETTE",
    "PRESERVE_COLOR",
    "STATISTICS_OPTION",
    "TILE",
    "WCT",
    "Option",
]

#: TrainConfig's declarations, by field name (``ccpl train`` and tools/gpu_train.py).
TRAIN = options_of(TrainConfig)

# ------------------------------------------------------------------------------ stylisation

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

# --------------------------------------------------------------------------------- finetune

FINETUNE_PRESET = Option(
    "preset",
    PRESET_DEFAULT,
    "training recipe: "
    + "; ".join(
        f"{k}: {s} steps, lr {r}, crop {c}, batch {b}" for k, (s, r, c, b) in PRESETS.items()
    ),
    "choice",
    choices=tuple(PRESETS),
)
_STEPS, _LR, _CROP, _BATCH = PRESETS[PRESET_DEFAULT]
# finetune's numbers are TrainConfig's declarations with the preset's defaults, and the
# node's (older) input names
STEPS = TRAIN["iterations"].but(
    name="steps", default=_STEPS, help="optimisation steps", widget_high=200000
)
LEARNING_RATE = TRAIN["lr"].but(name="learning_rate", default=_LR, cli="lr")
CROP_SIZE = TRAIN["crop"].but(name="crop_size", default=_CROP, cli="crop")
BATCH_SIZE = TRAIN["batch_size"].but(default=_BATCH)
CONTENT_WEIGHT = TRAIN["content_weight"]
STYLE_WEIGHT = TRAIN["style_weight"]
CCPL_WEIGHT = TRAIN["ccpl_weight"]
SEED = TRAIN["seed"]

# ---------------------------------------------------------------------------------- metrics

METRIC_FLOW = FLOW_PRESET.but(
    name="flow",
    help="optical flow of the metric: a DIS preset, or farneback to cross-check clips that "
    "were blended with DIS flow with an independent algorithm",
)

#: Every declaration the surfaces show, by its Python name in this module.
ALL = {
    k: v
    for k, v in dict(globals()).items()
    if isinstance(v, Option) and not k.startswith("_") and k == k.upper()
}
