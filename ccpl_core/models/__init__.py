"""Network modules of SCT/CCPL: encoder, SCT fusion, decoder and their bundle."""

from .decoder import Decoder
from .sct import SCT, ContentStats, StyleCode
from .sctnet import SCTNet
from .vgg import DEEPEST_TAP, FEATURE_STRIDE, STYLE_TAPS, VGGEncoder

__all__ = [
    "DEEPEST_TAP",
    "FEATURE_STRIDE",
    "SCT",
    "STYLE_TAPS",
    "ContentStats",
    "Decoder",
    "SCTNet",
    "StyleCode",
    "VGGEncoder",
]
