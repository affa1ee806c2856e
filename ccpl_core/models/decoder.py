"""The SCT decoder: a mirror of the encoder with nearest up-sampling.

Module names follow the authors' full decoder ``nn.Sequential`` (convolutions at 1, 5, 8, 11, 14,
18, 21, 25, 28). The photo-realistic network only uses children 10 onwards (from the fourth
256->256 convolution); it keeps the original indices so photo checkpoints map one-to-one.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..modes import get_mode

_DECODER_PLAN: tuple = (
    (512, 256),
    "U",
    (256, 256),
    (256, 256),
    (256, 256),
    (256, 128),
    "U",
    (128, 128),
    (128, 64),
    "U",
    (64, 64),
    (64, 3),
)
#: First child after the last up-sampling: :meth:`Decoder.head` ends before it with full-resolution
#: 64-channel activations, :meth:`Decoder.tail` (two convolutions) paints them into RGB.
DETAIL_SPLIT = 24
#: Channels of the activations between head and tail.
DETAIL_CHANNELS = 64


def _official_layers() -> list[nn.Module]:
    layers: list[nn.Module] = []
    for item in _DECODER_PLAN:
        if item == "U":
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        else:
            cin, cout = item
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, kernel_size=3), nn.ReLU()]
    layers.pop()  # no activation after the last convolution
    assert len(layers) == 29
    return layers


class Decoder(nn.Sequential):
    """Maps fused features back to an RGB image (values roughly in [0, 1], not clamped)."""

    def __init__(self, mode: str = "art") -> None:
        start = get_mode(mode).decoder_start
        named = ((str(i), layer) for i, layer in enumerate(_official_layers()) if i >= start)
        super().__init__(OrderedDict(named))
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = layer(x)
        return x

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Features -> full-resolution activations (video carries them along the motion)."""
        for name, layer in self.named_children():
            if int(name) >= DETAIL_SPLIT:
                break
            x = layer(x)
        return x

    def tail(self, x: torch.Tensor) -> torch.Tensor:
        """Full-resolution activations from :meth:`head` -> RGB (two 3x3 convolutions)."""
        for name, layer in self.named_children():
            if int(name) >= DETAIL_SPLIT:
                x = layer(x)
        return x
