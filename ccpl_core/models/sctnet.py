"""SCTNet: the encoder, SCT and decoder of one mode, bundled as a single module.

Its state dict uses the project's layout: the authors' keys with an ``encoder.``, ``sct.`` or
``decoder.`` prefix (``encoder.0.weight``, ``sct.cnet.0.weight``, ``decoder.1.weight``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..modes import PHOTO, Mode, get_mode
from . import fusion
from .decoder import Decoder
from .sct import SCT
from .vgg import VGGEncoder


class SCTNet(nn.Module):
    """Encoder + SCT + decoder for ``mode`` 'art' (relu4_1) or 'photo' (relu3_1)."""

    def __init__(self, mode: str = "art") -> None:
        super().__init__()
        self.spec: Mode = get_mode(mode)
        self.mode = mode
        self.encoder = VGGEncoder(mode)
        self.sct = SCT(mode)
        self.decoder = Decoder(mode)
        #: Free-form description (name, source file, training metadata) carried with the model.
        self.info: dict[str, str] = {}

    @property
    def stride(self) -> int:
        """Down-sampling factor between the image and the fused feature map."""
        return self.spec.stride

    @property
    def min_style_size(self) -> int:
        """Smallest style side length in pixels that SCT's unpadded convolutions accept."""
        return self.spec.min_style_size

    def forward(
        self, content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0, wct: float = 0.0
    ) -> torch.Tensor:
        """Single-pass stylisation of content with the style of the same batch (no tiling),
        through the product's fusion (:func:`.fusion.fuse`); output cropped to the input.

        The defaults are the paper's (SCT alone); :class:`ccpl_core.Stylizer` adds tiling,
        precision, the palette step and the product's defaults.
        """
        h, w = content.shape[-2:]
        style_feat = self.encoder(style)
        code = fusion.style_code(self.sct, style_feat, colour=wct > 0)
        fused = fusion.fuse(self.sct, self.encoder(content), code, alpha=alpha, wct=wct)
        return self.decoder(fused.to(content.dtype))[..., :h, :w]


def photo_from_art(art: SCTNet) -> SCTNet:
    """A photo model started from an art model: its encoder, its decoder's stride-4 layers, a
    fresh SCT.

    The photo decoder is the art decoder from child 10 on (the same shapes), and it decodes maps
    of the same resolution (relu3_1 against the art decoder's activations after its first
    up-sampling): a far better start than random weights.
    """
    photo = SCTNet("photo")
    photo.encoder.load_state_dict(art.encoder.state_dict(), strict=False)
    start = PHOTO.decoder_start
    photo.decoder.load_state_dict(
        {k: v for k, v in art.decoder.state_dict().items() if int(k.split(".")[0]) >= start}
    )
    return photo
