"""The closed-form whitening-colouring transform (WCT, Li et al. 2017), mixed into SCT's fusion.

WCT gives the content's deepest features the style's full covariance: whiten them with the
content covariance's inverse square root, colour them with the style covariance's square root,
add the style mean. The SCT network learns an approximation of this from 32 compressed channels,
and the trained ones collapse onto a few directions (bench_fusion.py: effective rank ~2 where the
styles have ~25), so every painting is drawn through the same few strokes. Mixing a share of the
exact transform back in restores the style's other directions (texture) at the cost of two
512x512 eigendecompositions per image, and is a function of whole-image (or whole-clip)
statistics applied per position: it commutes with tiling like SCT does.

Directions with (near-)zero variance, which relu4_1 always has, are left out instead of being
amplified by the whitening. The products run on the features' device in float32; the CxC
matrices are summed and decomposed on the CPU in float64 (some devices, e.g. MPS, have no
float64), and the final CxC transform goes back to the device.
"""

from __future__ import annotations

import torch

#: The default share mixed into SCT's fusion, measured on the quality benchmark's held-out set
#: (benchmarks/results/quality_wct.json).
DEFAULT_WCT = 0.4
#: Eigenvalues below this fraction of the largest one count as zero.
RELATIVE_CUTOFF = 1e-5
#: Feature positions transformed at a time (bounds the working memory at any image size).
CHUNK = 1 << 16


def _products(feat: torch.Tensor, mean: torch.Tensor | None = None) -> torch.Tensor:
    """Per image, the sum over positions of the outer products [B, C, C] (float64, on the CPU)
    of features [B, C, H, W] less ``mean`` [B, C, 1] (none: uncentred), over bands of rows (no
    full-size copy of the features)."""
    b, c, h, w = feat.shape
    total = torch.zeros(b, c, c, dtype=torch.float64)
    rows = max(1, CHUNK // w)
    for top in range(0, h, rows):
        part = feat[:, :, top : top + rows].float().reshape(b, c, -1)
        if mean is not None:
            part = part - mean
        total += torch.bmm(part, part.transpose(1, 2)).cpu().double()
    return total


def covariance(feat: torch.Tensor) -> torch.Tensor:
    """Unbiased channel covariance [B, C, C] (float64, on the CPU) of features [B, C, H, W]."""
    b, c, h, w = feat.shape
    mean = feat.float().mean(dim=(2, 3)).reshape(b, c, 1)
    return _products(feat, mean) / max(h * w - 1, 1)


def outer_sum(feat: torch.Tensor) -> torch.Tensor:
    """Sum over every image and position of the uncentred outer products [C, C] (float64, on the
    CPU) of features [B, C, H, W]: what running clip statistics add up."""
    return _products(feat).sum(dim=0)


def symmetric_power(cov: torch.Tensor, power: float, ridge: float = 0.0) -> torch.Tensor:
    """``cov`` [B, C, C] (symmetric, positive semi-definite) to ``power`` (float32, CPU), with
    eigenvalues below ``RELATIVE_CUTOFF`` of the largest treated as zero (also for negative
    powers: a direction the features do not use is dropped, not blown up). ``ridge`` adds that
    fraction of the mean eigenvalue to each kept one first (damping weak directions)."""
    values, vectors = torch.linalg.eigh(cov.cpu().double())
    top = values.amax(dim=-1, keepdim=True).clamp_min(1e-12)
    keep = values > top * RELATIVE_CUTOFF
    damped = values.clamp_min(1e-12) + ridge * values.mean(dim=-1, keepdim=True)
    scaled = torch.where(keep, damped.pow(power), torch.zeros_like(values))
    return (vectors * scaled[..., None, :] @ vectors.transpose(-1, -2)).float()


def colouring(style_feat: torch.Tensor) -> torch.Tensor:
    """The style's colouring matrix [B, C, C]: the square root of its feature covariance."""
    return symmetric_power(covariance(style_feat), 0.5)


def whiten_colour_into(
    fused: torch.Tensor,
    content_feat: torch.Tensor,
    share: float,
    content_mean: torch.Tensor,
    whitening: torch.Tensor,
    colour: torch.Tensor,
    style_mean: torch.Tensor,
) -> torch.Tensor:
    """Move ``fused`` [B, C, H, W] (float32) ``share`` of the way to the WCT of ``content_feat``,
    in place, a band of rows at a time (any memory layout).

    ``whitening`` [B|1, C, C] is the content covariance to the power -1/2 and ``content_mean``
    [B|1, C, 1, 1] its mean (whole-image or whole-clip); ``colour`` [B|1, C, C] and
    ``style_mean`` [B|1, C, 1, 1] are the style's.
    """
    b, c, h, w = fused.shape
    device = fused.device
    transform = (colour.float().to(device) @ whitening.float().to(device)).expand(b, c, c)
    offset = content_mean.float().to(device).reshape(-1, c, 1, 1)
    target = style_mean.float().to(device).reshape(-1, c, 1, 1)
    rows = max(1, CHUNK // w)
    for top in range(0, h, rows):
        part = content_feat[:, :, top : top + rows].float() - offset
        wct = torch.einsum("bij,bjhw->bihw", transform, part) + target
        fused[:, :, top : top + rows].lerp_(wct, share)
    return fused
