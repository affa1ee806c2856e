"""Weight initialisation for untrained parts (decoder, SCT) and for tiny random test models."""

from __future__ import annotations

import torch
from torch import nn


def init_trainable_(net: nn.Module, seed: int | None = None) -> nn.Module:
    """He-initialise every convolution of ``net`` in place (activations stay O(1) through ReLUs)."""
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            fan_in = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
            std = (2.0 / fan_in) ** 0.5
            with torch.no_grad():
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * std)
                if module.bias is not None:
                    module.bias.zero_()
    return net


def random_sctnet(mode: str = "art", seed: int = 0) -> nn.Module:
    """A complete SCTNet with random He weights everywhere (tests and benchmarks only)."""
    from .sctnet import SCTNet

    net = SCTNet(mode)
    init_trainable_(net, seed)
    with torch.no_grad():
        # Keep the output image around mid-grey with a visible spread, like a trained decoder.
        last = list(net.decoder.children())[-1]
        last.weight.mul_(0.2)
        last.bias.fill_(0.5)
    return net
