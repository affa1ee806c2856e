"""Closed-form whitening-colouring transform (WCT, Li et al. 2017): the teacher of SCT.

Content features are whitened (identity covariance) and coloured with the style's covariance and
mean. Directions with (near-)zero variance, which small crops always have at 512 channels, are
left out of the whitening instead of being amplified; ``ridge`` also damps the poorly estimated
small-variance directions of a crop with few positions (a steadier teacher).
"""

from __future__ import annotations

import torch

#: Eigenvalues below this fraction of the largest one count as zero.
RELATIVE_CUTOFF = 1e-5


def _centred(feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = feat.flatten(1).double()
    mean = flat.mean(1, keepdim=True)
    return flat - mean, mean


def _eig(cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    values, vectors = torch.linalg.eigh(cov)
    keep = values > values.max().clamp_min(1e-12) * RELATIVE_CUTOFF
    return values.clamp_min(0), vectors, keep


def whiten_colour(content: torch.Tensor, style: torch.Tensor, ridge: float = 0.0) -> torch.Tensor:
    """WCT of content features [B, C, H, W] with style features [B, C, h, w] (same batch).

    ``ridge`` adds that fraction of the mean content variance to every variance before whitening.
    """
    out = torch.empty_like(content)
    for i, (c, s) in enumerate(zip(content, style, strict=True)):
        cf, _ = _centred(c)
        sf, s_mean = _centred(s)
        cv, cvec, ckeep = _eig(cf @ cf.T / max(cf.shape[1] - 1, 1))
        sv, svec, skeep = _eig(sf @ sf.T / max(sf.shape[1] - 1, 1))
        damped = cv.clamp_min(1e-12) + ridge * cv.mean()
        inv_sqrt = torch.where(ckeep, damped.rsqrt(), torch.zeros_like(cv))
        whitened = cvec @ (inv_sqrt[:, None] * (cvec.T @ cf))
        sqrt = torch.where(skeep, sv.sqrt(), torch.zeros_like(sv))
        coloured = svec @ (sqrt[:, None] * (svec.T @ whitened)) + s_mean
        out[i] = coloured.view_as(c).to(content.dtype)
    return out
