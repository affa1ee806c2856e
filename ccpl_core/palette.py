"""Palette: move a stylised image's colours toward its style's.

The network carries a style's brushwork better than its colours (its fused features span few
colour directions), so after decoding each image is moved toward the style's RGB distribution by
sliced optimal transport (Pitie, Kokaram & Dahyot 2005; Rabin et al. 2011): along each axis of a
few fixed rotations of RGB space in turn, every colour is moved to the style's value at the same
quantile. Unlike a mean-and-covariance match this carries a painting with several distinct
colours (a red roof, a blue sky, a yellow field), not only its average tint. The result is
followed ``share`` of the way.

The map is a function of the colour alone, built from the whole image's quantiles (a strided
subsample) and baked into a 33x33x33 colour lookup table, so it commutes with tiling and costs a
trilinear lookup per pixel (on any device, in chunks at any size).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: The default share, measured on the quality benchmark's held-out set
#: (benchmarks/results/quality_palette.json).
DEFAULT_PALETTE = 0.5
#: Quantiles per axis (the resolution of each 1-D map).
LEVELS = 256
#: Statistics are taken from at most this many pixels (an evenly strided subsample).
MAX_PIXELS = 1 << 15
#: Grid points per side of the colour lookup table.
LUT_SIDE = 33
#: Pixels looked up at a time (bounds the step's working memory at any image size).
CHUNK = 1 << 20


def _random_rotations(count: int, seed: int) -> list[torch.Tensor]:
    """``count`` random orthonormal bases of RGB space, from Python's own generator (the same on
    every machine and version) by Gram-Schmidt."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        basis: list[list[float]] = []
        while len(basis) < 3:
            v = [rng.gauss(0.0, 1.0) for _ in range(3)]
            for u in basis:
                dot = sum(a * b for a, b in zip(v, u, strict=True))
                v = [a - dot * b for a, b in zip(v, u, strict=True)]
            norm = math.sqrt(sum(a * a for a in v))
            if norm > 1e-6:
                basis.append([a / norm for a in v])
        out.append(torch.tensor(basis))
    return out


#: The fixed orthonormal bases, one 1-D matching per axis of each (the same for every image, so
#: results are reproducible). Random bases, as in sliced optimal transport: a hand-made set of
#: rotations measured worse (held-out texture 1.56-1.58 against 1.46-1.49 for random ones).
ROTATIONS = _random_rotations(8, seed=0)


def weighted_quantiles(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """``LEVELS`` quantiles (from the minimum to the maximum) of each row of ``values`` [R, N],
    each column counted by ``weights`` [N] (all 1 if None)."""
    levels = torch.linspace(0, 1, LEVELS, dtype=values.dtype, device=values.device)
    if weights is None:
        weights = torch.ones(values.shape[1], dtype=values.dtype, device=values.device)
    keep = weights > 0  # a weight-0 value is not in the distribution, not even at its ends
    values, weights = values[:, keep], weights[keep]
    order = values.argsort(dim=1)
    sorted_values = values.gather(1, order)
    w = weights.to(values)[order]
    cum = w.cumsum(dim=1)
    cum = (cum - w / 2) / cum[:, -1:]  # each value at the middle of its weight
    out = torch.empty(values.shape[0], LEVELS, dtype=values.dtype, device=values.device)
    for row in range(values.shape[0]):
        out[row] = interp(levels, cum[row], sorted_values[row])
    return out


def interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear ``fp(xp)`` at ``x`` (``xp`` increasing, ties allowed), clamped to the
    end values outside ``xp`` like ``numpy.interp``; on any device."""
    i = torch.searchsorted(xp, x.contiguous(), right=True).clamp(1, xp.numel() - 1)
    x0, x1, f0, f1 = xp[i - 1], xp[i], fp[i - 1], fp[i]
    step = x1 - x0
    t = torch.where(step > 0, (x - x0) / torch.where(step > 0, step, 1), torch.ones_like(x))
    return torch.lerp(f0, f1, t.clamp(0, 1))


@dataclass(frozen=True)
class Palette:
    """An RGB distribution as its quantiles along each axis of each rotation: [R, 3, LEVELS]."""

    quantiles: torch.Tensor

    @staticmethod
    def of(
        images: torch.Tensor | Sequence[torch.Tensor],
        weights: Sequence[float] | None = None,
    ) -> Palette:
        """The palette of one image [3, H, W] / [1, 3, H, W], or of several images' pixels
        pooled with ``weights`` (a blend of styles has the blend of their palettes)."""
        images = [images] if isinstance(images, torch.Tensor) else list(images)
        weights = [1.0] * len(images) if weights is None else list(weights)
        pixels, counts = [], []
        for image, w in zip(images, weights, strict=True):
            n = _stride(*image.shape[-2:])
            x = image.reshape(3, *image.shape[-2:])[:, ::n, ::n].reshape(3, -1).float().cpu()
            pixels.append(x)
            counts.append(torch.full((x.shape[1],), float(w) / x.shape[1]))
        x, w = torch.cat(pixels, dim=1), torch.cat(counts)
        return Palette(torch.stack([weighted_quantiles(r @ x, w) for r in ROTATIONS]))


def _stride(height: int, width: int) -> int:
    """The stride of an evenly strided subsample of at most MAX_PIXELS pixels."""
    return max(1, math.ceil(math.sqrt(height * width / MAX_PIXELS)))


def _step(
    x: torch.Tensor, r: torch.Tensor, maps: tuple[torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    """Colours [3, N] moved along each axis of rotation ``r`` by its quantile maps
    (source [3, LEVELS] -> target [3, LEVELS])."""
    r = r.to(x)
    p = r @ x
    moved = torch.stack([interp(p[a], maps[0][a], maps[1][a]) for a in range(3)])
    return x + r.T @ (moved - p)


@dataclass(frozen=True)
class ColourMap:
    """The palette step's map from colours to colours, baked into a lookup table [1, 3, S, S, S].

    Built once from an image's colours, it can be applied to any number of images: a clip keeps
    the map of its first frame, so the same colour is moved the same way in every frame and the
    step cannot flicker. ``lut`` None: nothing to move (an empty weighted region)."""

    lut: torch.Tensor | None

    @staticmethod
    def toward(
        image: torch.Tensor, target: Palette, weight: torch.Tensor | None = None
    ) -> ColourMap:
        """The map taking ``image``'s [3, H, W] colours to ``target``'s palette. ``weight``
        [H, W]: how much each pixel counts when the image's own colours are measured (e.g. a
        mask's stylised region)."""
        planes = image.reshape(3, *image.shape[-2:]).float()
        n = _stride(*planes.shape[-2:])
        sub, w = planes[:, ::n, ::n].reshape(3, -1), None
        if weight is not None:
            w = weight.reshape(planes.shape[-2:])[::n, ::n].reshape(-1).to(planes)
            sub, w = sub[:, w > 0], w[w > 0]
            if w.numel() == 0:
                return ColourMap(None)
        # each rotation's map is built from the subsample's quantiles after the maps before it
        maps = []
        for k, r in enumerate(ROTATIONS):
            source = weighted_quantiles(r.to(sub) @ sub, w)
            maps.append((source, target.quantiles[k].to(source)))
            sub = _step(sub, r, maps[-1])
        return ColourMap(_lookup_table(maps, planes.device))

    def apply(self, image: torch.Tensor, share: float) -> torch.Tensor:
        """``image`` [3, H, W] moved ``share`` of the way along the map (a new tensor)."""
        if share == 0 or self.lut is None:
            return image.clone()
        lut = self.lut.to(image.device)
        x = image.reshape(3, -1).float()
        out = torch.empty_like(x)
        for start in range(0, x.shape[1], CHUNK):
            part = x[:, start : start + CHUNK]
            grid = (part.clamp(0, 1) * 2 - 1).T.reshape(1, 1, 1, -1, 3)
            moved = F.grid_sample(lut, grid, mode="bilinear", align_corners=True).reshape(3, -1)
            out[:, start : start + CHUNK] = part + share * (moved - part)
        return out.view(image.shape).to(image.dtype)

    def to(self, device: torch.device | str) -> ColourMap:
        return self if self.lut is None else ColourMap(self.lut.to(device))


def toward(
    image: torch.Tensor,
    target: Palette,
    share: float,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """``image`` [3, H, W] moved ``share`` of the way to ``target``'s palette by its own map
    (a new tensor); see :class:`ColourMap` for ``weight``. Unchanged where the weights are all
    0."""
    if share == 0:
        return image.clone()
    return ColourMap.toward(image, target, weight).apply(image, share)


def _lookup_table(
    maps: list[tuple[torch.Tensor, torch.Tensor]], device: torch.device
) -> torch.Tensor:
    """The composed maps at every point of an RGB grid, as grid_sample input [1, 3, B, G, R]."""
    axis = torch.linspace(0, 1, LUT_SIDE, device=device)
    b, g, r = torch.meshgrid(axis, axis, axis, indexing="ij")
    colours = torch.stack([r, g, b]).reshape(3, -1)
    for rotation, m in zip(ROTATIONS, maps, strict=True):
        colours = _step(colours, rotation, m)
    return colours.reshape(1, 3, LUT_SIDE, LUT_SIDE, LUT_SIDE)
