"""The normalised VGG-19 encoder used by AdaIN, SCT and CCPL.

The layer indices match the authors' ``vgg_normalised`` ``nn.Sequential`` exactly, so an official
state dict (keys ``0.weight``, ``2.weight``, ``5.weight`` ...) loads into it without renaming.
Layer 0 is a 1x1 convolution that folds the Caffe preprocessing (x*255, RGB->BGR, minus mean): the
encoder takes RGB images in [0, 1].
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..modes import TAP_INDEX, get_mode

# (in, out) of every 3x3 convolution up to relu4_1, with "M" for a 2x2 max-pool.
_VGG_PLAN: tuple = (
    (3, 64),
    (64, 64),
    "M",
    (64, 128),
    (128, 128),
    "M",
    (128, 256),
    (256, 256),
    (256, 256),
    (256, 256),
    "M",
    (256, 512),
)


def _official_layers() -> list[nn.Module]:
    """All children of the official encoder up to and including relu4_1 (31 modules)."""
    layers: list[nn.Module] = [nn.Conv2d(3, 3, kernel_size=1)]
    for item in _VGG_PLAN:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
        else:
            cin, cout = item
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, kernel_size=3), nn.ReLU()]
    assert len(layers) == 31
    return layers


class VGGEncoder(nn.Sequential):
    """Frozen normalised VGG-19 truncated at relu4_1 (art) or relu3_1 (photo)."""

    def __init__(self, mode: str = "art") -> None:
        layers = _official_layers()[: get_mode(mode).encoder_depth]
        super().__init__(OrderedDict((str(i), layer) for i, layer in enumerate(layers)))
        self.mode = mode
        self.requires_grad_(False)

    @property
    def stride(self) -> int:
        return get_mode(self.mode).stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = layer(x)
        return x

    def taps(self, x: torch.Tensor, names: tuple[str, ...] | None = None) -> list[torch.Tensor]:
        """Features at the given taps (default: every tap of this mode), shallowest first."""
        names = names or get_mode(self.mode).style_taps
        wanted = {TAP_INDEX[n]: n for n in names}
        last = max(wanted)
        out: list[torch.Tensor] = []
        for i, layer in enumerate(self):
            x = layer(x)
            if i in wanted:
                out.append(x)
            if i == last:
                break
        return out
