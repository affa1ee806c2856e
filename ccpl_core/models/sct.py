"""Simple Covariance Transformation (SCT), the feature-fusion module of CCPL.

SCT whitens the content features per channel, compresses them to 32 channels (``cnet``), multiplies
them by a 32x32 covariance-like matrix of the compressed, mean-centred style features (``snet``),
expands back (``uncompress``) and adds the style mean. The content only enters through per-channel
statistics and 1x1 maps, which is what makes exact tiling and clip-level statistics possible: the
module is therefore split into ``style_code`` (once per style) and ``fuse`` (per content).

SCT always runs in float32 (autocast is switched off inside it): it is cheap next to the VGG
encoder and decoder, and its statistics and 32x32 products are where low precision would hurt.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch
from torch import nn

from ..modes import get_mode
from . import whitening

EPS = 1e-5


@dataclass
class StyleCode:
    """What the fusion needs from a style: SCT's 32x32 matrix, the per-channel feature mean and
    (for the WCT share, :mod:`.whitening`) the square root of the feature covariance.

    Codes of several styles combine linearly (``blend``) because both transforms are affine in
    the code: fusing with a weighted sum of codes equals the weighted sum of the fused features
    when the weights sum to one.
    """

    matrix: torch.Tensor  # [B, 32, 32] float32
    mean: torch.Tensor  # [B, C, 1, 1] float32
    colour: torch.Tensor | None = None  # [B, C, C] float32

    @staticmethod
    def blend(codes: list[StyleCode], weights: list[float]) -> StyleCode:
        matrix = sum(w * c.matrix for c, w in zip(codes, weights, strict=True))
        mean = sum(w * c.mean for c, w in zip(codes, weights, strict=True))
        colour = None
        if all(c.colour is not None for c in codes):
            colour = sum(w * c.colour for c, w in zip(codes, weights, strict=True))
        return StyleCode(matrix=matrix, mean=mean, colour=colour)  # type: ignore[arg-type]

    @staticmethod
    def cat(codes: list[StyleCode]) -> StyleCode:
        """One code per batch item, stacked."""
        colours = [c.colour for c in codes]
        return StyleCode(
            torch.cat([c.matrix for c in codes]),
            torch.cat([c.mean for c in codes]),
            None if any(c is None for c in colours) else torch.cat(colours),  # type: ignore[arg-type]
        )

    def to(self, device: torch.device | str) -> StyleCode:
        colour = None if self.colour is None else self.colour.to(device)
        return StyleCode(self.matrix.to(device), self.mean.to(device), colour)


@dataclass
class ContentStats:
    """Per-channel mean and std (unbiased variance + eps) of content features, and for the WCT
    share (:mod:`.whitening`) their unbiased channel covariance."""

    mean: torch.Tensor  # [B, C, 1, 1] float32
    std: torch.Tensor  # [B, C, 1, 1] float32
    covariance: torch.Tensor | None = None  # [B, C, C] float64, on the CPU
    #: its inverse square root, decomposed once per statistics object (see :meth:`whitening`)
    _whitening: torch.Tensor | None = field(default=None, repr=False, compare=False)

    @staticmethod
    def of(feat: torch.Tensor, covariance: bool = False) -> ContentStats:
        f = feat.float().flatten(2)
        var = f.var(dim=2, unbiased=True) + EPS
        cov = whitening.covariance(feat) if covariance else None
        return ContentStats(f.mean(dim=2)[..., None, None], var.sqrt()[..., None, None], cov)

    @staticmethod
    def from_moments(
        count: int,
        total: torch.Tensor,
        total_sq: torch.Tensor,
        outer: torch.Tensor | None = None,
    ) -> ContentStats:
        """Build stats from running sums (float64 [B, C], and [B, C, C] for the covariance)
        gathered over tiles or frames."""
        if count < 2:
            raise ValueError("content feature map needs at least two positions")
        mean = total / count
        var = (total_sq - count * mean * mean) / (count - 1)
        std = (var.clamp_min(0) + EPS).sqrt()
        cov = None
        if outer is not None:
            m = mean.cpu()
            cov = (outer.cpu() - count * m[..., :, None] * m[..., None, :]) / (count - 1)
        return ContentStats(mean.float()[..., None, None], std.float()[..., None, None], cov)

    def whitening(self) -> torch.Tensor:
        """The covariance to the power -1/2 [B, C, C] (float32, CPU), computed on first use and
        kept: clip statistics serve every chunk of a clip, image statistics both styles of a
        mask, with one eigendecomposition."""
        if self.covariance is None:
            raise ValueError("these content statistics were made without a covariance")
        if self._whitening is None:
            self._whitening = whitening.symmetric_power(self.covariance, -0.5)
        return self._whitening

    def to(self, device: torch.device | str) -> ContentStats:
        """Mean and std on ``device``; the covariance (and its whitening) stay on the CPU, where
        they are decomposed."""
        return ContentStats(
            self.mean.to(device), self.std.to(device), self.covariance, self._whitening
        )


def _fp32(t: torch.Tensor) -> torch.autocast:
    """A context that turns autocast off on the tensor's device."""
    return torch.autocast(device_type=t.device.type, enabled=False)


def _conv(cin: int, cout: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=k, stride=1, padding=0)


class SCT(nn.Module):
    """SCT for ``mode='art'`` (relu4_1, 512 channels) or ``'photo'`` (relu3_1, 256 channels).

    ``cnet`` compresses the whitened content with 1x1 convolutions, ``snet`` the style with 3x3
    ones (unpadded) and a last 1x1, both down to 32 channels (widths in :mod:`ccpl_core.modes`).
    """

    def __init__(self, mode: str = "art") -> None:
        super().__init__()
        widths = get_mode(mode).sct_widths
        pairs = list(itertools.pairwise(widths))
        cnet: list[nn.Module] = []
        snet: list[nn.Module] = []
        for i, (cin, cout) in enumerate(pairs):
            last = i == len(pairs) - 1
            cnet += [_conv(cin, cout, 1)] + ([] if last else [nn.ReLU()])
            snet += [_conv(cin, cout, 1 if last else 3)] + ([] if last else [nn.ReLU()])
        self.cnet = nn.Sequential(*cnet)
        self.snet = nn.Sequential(*snet)
        self.uncompress = _conv(widths[-1], widths[0], 1)
        self.mode = mode

    def style_code(self, style_feat: torch.Tensor) -> StyleCode:
        """Encode style features [B, C, h, w] into a :class:`StyleCode`."""
        h, w = style_feat.shape[-2:]
        need = get_mode(self.mode).min_style_feature
        if h < need or w < need:
            raise ValueError(f"style feature map is {h}x{w}, SCT needs at least {need}x{need}")
        with _fp32(style_feat):
            sf = style_feat.float()
            mean = sf.mean(dim=(2, 3), keepdim=True)
            s = self.snet(sf - mean).flatten(2)
            matrix = torch.bmm(s, s.transpose(1, 2)) / s.shape[2]
        return StyleCode(matrix=matrix, mean=mean)

    def fuse(
        self,
        content_feat: torch.Tensor,
        code: StyleCode,
        stats: ContentStats | None = None,
    ) -> torch.Tensor:
        """Fused features for content features [B, C, H, W].

        ``stats`` defaults to the statistics of ``content_feat`` itself; pass whole-image (tiling)
        or clip-level (video) statistics to normalise a crop consistently.
        """
        stats = stats or ContentStats.of(content_feat)
        with _fp32(content_feat):
            c = self.cnet((content_feat.float() - stats.mean) / stats.std)
            b, k, h, w = c.shape
            matrix = code.matrix.expand(b, -1, -1) if code.matrix.shape[0] == 1 else code.matrix
            mixed = torch.bmm(matrix, c.flatten(2)).view(b, k, h, w)
            return self.uncompress(mixed) + code.mean

    def forward(self, content_feat: torch.Tensor, style_feat: torch.Tensor) -> torch.Tensor:
        """Same contract as the authors' module: fuse content with the style of the same batch."""
        return self.fuse(content_feat, self.style_code(style_feat))
