"""The product's fusion, in one place: SCT, a share of the closed-form WCT, the style strength.

Image stages, video, training's joint step and :meth:`SCTNet.forward` all fuse through
:func:`fuse`: SCT re-colours the content features with a style code (:mod:`.sct`), ``wct`` moves
that share of the way to the whitening-colouring transform of the same pair (:mod:`.whitening`),
and ``alpha`` < 1 blends back towards the content features. Every step is a function of
whole-image (or whole-clip) statistics applied per position, so it commutes with tiling.
"""

from __future__ import annotations

import torch

from . import whitening
from .sct import SCT, ContentStats, StyleCode


def style_code(sct: SCT, style_feat: torch.Tensor, colour: bool = True) -> StyleCode:
    """The code of style features [B, C, h, w]: SCT's, with the colouring matrix the WCT share
    needs (computed outside autograd: it is a fixed target of the style)."""
    code = sct.style_code(style_feat)
    if colour:
        with torch.no_grad():
            code.colour = whitening.colouring(style_feat)
    return code


def fuse(
    sct: SCT,
    features: torch.Tensor,
    code: StyleCode,
    stats: ContentStats | None = None,
    alpha: float = 1.0,
    wct: float = 0.0,
) -> torch.Tensor:
    """Content features [B, C, H, W] fused with a style code -> float32 features.

    ``stats`` normalises the content (default: each image's own statistics; clip-level ones for
    video); ``wct`` is the share of the closed-form transform mixed in (it needs ``stats`` with a
    covariance and a code with its colouring, see :func:`style_code`); ``alpha`` < 1 blends back
    towards the content features.
    """
    if stats is None:
        stats = ContentStats.of(features, covariance=wct > 0)
    whiten = None
    if wct:  # decomposed on the caller's statistics, so the next call reuses it
        if stats.covariance is None or code.colour is None:
            raise ValueError("the WCT share needs the content covariance and style colouring")
        whiten = stats.whitening()
    stats, code = stats.to(features.device), code.to(features.device)
    fused = sct.fuse(features, code, stats)
    if whiten is not None:
        whitening.whiten_colour_into(
            fused, features, wct, stats.mean, whiten, code.colour, code.mean
        )
    if alpha < 1.0:
        fused = torch.lerp(features.float(), fused, alpha)
    return fused
