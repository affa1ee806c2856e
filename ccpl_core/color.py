"""Colour preservation: keep the content's colours while taking the style's texture.

Two methods, both pointwise or global (so they commute with tiling):

* ``luminance``: stylise, then keep the result's luma and the content's chroma (YCbCr).
* ``match``: recolour the style so its RGB mean and covariance equal the content's, then stylise
  (Gatys et al., "Preserving Color in Neural Artistic Style Transfer", 2016).
"""

from __future__ import annotations

import torch

COLOR_METHODS = ("none", "luminance", "match")

_RGB_TO_YCBCR = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
)


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    m = _RGB_TO_YCBCR.to(x)
    return torch.einsum("ij,bjhw->bihw", m, x)


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    m = torch.linalg.inv(_RGB_TO_YCBCR.double()).to(x)
    return torch.einsum("ij,bjhw->bihw", m, x)


def keep_content_chroma(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luma of ``stylized`` with the chroma of ``content`` (same shapes, float RGB)."""
    y = rgb_to_ycbcr(stylized)[:, :1]
    cbcr = rgb_to_ycbcr(content)[:, 1:]
    return ycbcr_to_rgb(torch.cat([y, cbcr], dim=1)).clamp(0, 1)


def _mean_cov(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = x.double().flatten(1)  # [3, N]
    mean = flat.mean(dim=1, keepdim=True)
    centred = flat - mean
    cov = centred @ centred.T / max(1, flat.shape[1] - 1)
    return mean, cov + 1e-5 * torch.eye(3, dtype=cov.dtype, device=cov.device)


def _sqrtm(cov: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(cov)
    vals = vals.clamp_min(1e-8)
    power = -0.5 if inverse else 0.5
    return vecs @ torch.diag(vals**power) @ vecs.T


def match_color(style: torch.Tensor, content: torch.Tensor, clamp: bool = True) -> torch.Tensor:
    """Affinely recolour ``style`` [1, 3, h, w] to the RGB mean and covariance of ``content``.

    The match is exact before the result is clamped to [0, 1].
    """
    ms, cs = _mean_cov(style[0])
    mc, cc = _mean_cov(content[0])
    transform = _sqrtm(cc) @ _sqrtm(cs, inverse=True)
    flat = style[0].double().flatten(1)
    out = transform @ (flat - ms) + mc
    out = out.view_as(style[0]).to(style.dtype)[None]
    return out.clamp(0, 1) if clamp else out
