"""The closed-form whitening-colouring transform of training crop pairs: the teacher of SCT.

The transform itself is :mod:`ccpl_core.models.whitening` (the product mixes a share of it into
SCT's fusion); here each content crop is whitened with its own covariance and coloured with its
paired style crop's. ``ridge`` also damps the poorly estimated small-variance directions of a crop
with few positions (a steadier teacher).
"""

from __future__ import annotations

import torch

from ..models import whitening


def whiten_colour(content: torch.Tensor, style: torch.Tensor, ridge: float = 0.0) -> torch.Tensor:
    """WCT of content features [B, C, H, W] with style features [B, C, h, w] (same batch).

    ``ridge`` adds that fraction of the mean content variance to every variance before whitening.
    """
    whiten = whitening.symmetric_power(whitening.covariance(content), -0.5, ridge)
    out = torch.zeros(content.shape, dtype=torch.float32, device=content.device)
    whitening.whiten_colour_into(
        out,
        content,
        1.0,
        content.float().mean(dim=(2, 3), keepdim=True),
        whiten,
        whitening.colouring(style),
        style.float().mean(dim=(2, 3), keepdim=True),
    )
    return out.to(content.dtype)
