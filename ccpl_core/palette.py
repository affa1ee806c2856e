"""Palette: move a stylised image's colours toward its style's.

The network carries a style's brushwork better than its colours (its fused features span few
colour directions), so after decoding each image is moved toward the style's RGB distribution:
the linear optimal-transport map between the two distributions' Gaussians (means and
covariances; the linear Monge-Kantorovich map, Pitie & Kokaram 2007), followed ``share`` of the
way. The map is one 3x3 matrix and an offset per image, from the whole image's statistics, so it
commutes with tiling; at share 1 the result has the style's RGB mean and covariance (before
clamping to [0, 1]).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

#: The default share, measured on the quality benchmark's held-out set
#: (benchmarks/results/quality_palette.json): the palette distance falls past the Magenta
#: baseline's while the texture distance stays where it was; larger shares raise it.
DEFAULT_PALETTE = 0.5
#: Statistics are taken from at most this many pixels (an evenly strided subsample).
MAX_PIXELS = 1 << 20
#: Added to both covariances: a flat image (a single colour) has no direction to stretch.
EPS = 1e-4
#: The map never multiplies a colour direction's spread by more than this (noise stays noise).
MAX_GAIN = 4.0


@dataclass(frozen=True)
class Palette:
    """The mean [3] and covariance [3, 3] (float64, CPU) of an image's RGB values."""

    mean: torch.Tensor
    cov: torch.Tensor

    @staticmethod
    def of(image: torch.Tensor, weight: torch.Tensor | None = None) -> Palette | None:
        """Statistics of ``image`` [3, H, W] (or [1, 3, H, W]), each pixel counted by
        ``weight`` [H, W] (or [1, 1, H, W]) if given; None where the weights are all 0."""
        x = image.reshape(3, *image.shape[-2:])
        step = max(1, math.ceil(math.sqrt(x.shape[-2] * x.shape[-1] / MAX_PIXELS)))
        x = x[:, ::step, ::step].detach().to("cpu", torch.float64).reshape(3, -1)
        if weight is None:
            w = torch.ones(x.shape[1], dtype=torch.float64)
        else:
            w = weight.reshape(weight.shape[-2:])[::step, ::step].to("cpu", torch.float64)
            w = w.reshape(-1)
        total = float(w.sum())
        if not total > 0:
            return None
        mean = (x * w).sum(dim=1) / total
        centred = x - mean[:, None]
        cov = (centred * w) @ centred.T / total
        return Palette(mean, cov)

    @staticmethod
    def mixture(palettes: Sequence[Palette], weights: Sequence[float]) -> Palette:
        """The statistics of several images' pixels pooled with ``weights`` (summing to 1):
        a blend of styles has the blend of their palettes."""
        pairs = list(zip(palettes, weights, strict=True))
        mean = sum(w * p.mean for p, w in pairs)
        second = sum(w * (p.cov + torch.outer(p.mean, p.mean)) for p, w in pairs)
        return Palette(mean, second - torch.outer(mean, mean))


def _sqrtm(cov: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(cov)
    return vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T


def transport_map(source: Palette, target: Palette) -> torch.Tensor:
    """The symmetric 3x3 matrix T with T cov_s T = cov_t that moves colours least."""
    eye = torch.eye(3, dtype=torch.float64)
    cs, ct = source.cov + EPS * eye, target.cov + EPS * eye
    root = _sqrtm(cs)
    inv_root = torch.linalg.inv(root)
    t = inv_root @ _sqrtm(root @ ct @ root) @ inv_root
    vals, vecs = torch.linalg.eigh((t + t.T) / 2)
    return vecs @ torch.diag(vals.clamp(0, MAX_GAIN)) @ vecs.T


def toward(
    image: torch.Tensor,
    target: Palette,
    share: float,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """``image`` [3, H, W] moved ``share`` of the way to ``target``'s palette (a new tensor).

    ``weight`` [H, W]: the pixels whose colours are measured (e.g. a mask's stylised region);
    the map is applied to every pixel. Unchanged where the weights are all 0.
    """
    source = Palette.of(image, weight)
    if source is None or share == 0:
        return image.clone()
    t = transport_map(source, target)
    a = (1 - share) * torch.eye(3, dtype=torch.float64) + share * t
    offset = source.mean + share * (target.mean - source.mean) - a @ source.mean
    a, offset = a.to(image), offset.to(image)
    return torch.einsum("ij,jhw->ihw", a, image) + offset[:, None, None]
