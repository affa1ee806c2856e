"""Network modules of SCT/CCPL: encoder, SCT fusion, decoder and their bundle."""

from .decoder import Decoder
from .sct import SCT, ContentStats, StyleCode
from .sctnet import SCTNet
from .vgg import VGGEncoder

__all__ = [
    "SCT",
    "ContentStats",
    "Decoder",
    "SCTNet",
    "StyleCode",
    "VGGEncoder",
]
