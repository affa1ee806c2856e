"""The network as three exact, memory-planned stages: encode, fuse, decode.

``encode(images) -> features``, ``fuse(features, style code, statistics) -> fused`` (the
product's fusion, :func:`ccpl_core.models.fusion.fuse`) and ``decode(fused) -> images`` (or
``decode_head`` then ``decode_tail`` around the decoder's full-resolution activations, which
video carries along the motion). Encoding and decoding are
tiled exactly: any tile size gives the untiled result. Each stage returns only once it has
succeeded on every image (the :class:`MemoryPlanner` retries after out-of-memory errors), so a
caller can compose them freely: image stylisation (:mod:`ccpl_core.pipeline`) and the clip
stylizer (:mod:`ccpl_core.video.engine`) are both short compositions of these calls.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from .errors import InputError
from .models import ContentStats, SCTNet, StyleCode, fusion, whitening
from .models.decoder import DETAIL_CHANNELS
from .planner import HEAD_LAYERS, MemoryPlanner
from .runtime import resolve_device, resolve_dtype
from .tiling import TAIL_MARGIN, TAIL_TILE, decode_tiled, encode_tiled

#: Called after each tile of a stage (progress); it may raise to interrupt the work.
Step = Callable[[], None]


class Stages:
    """A runtime copy of an :class:`SCTNet` on one device at one precision, as stages.

    The caller's model is never modified. ``memory_budget_bytes`` caps the working memory of a
    stage (default: what the device has free, see :func:`runtime.memory_budget`).
    """

    def __init__(
        self,
        model: SCTNet,
        device: str | torch.device = "auto",
        precision: str = "fp32",
        memory_budget_bytes: int | None = None,
    ) -> None:
        self.model = model
        self.spec = model.spec
        self.mode = model.mode
        self.stride = model.stride
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(precision, self.device)
        self.planner = MemoryPlanner(self.device, self.dtype, self.spec, memory_budget_bytes)
        fmt = torch.channels_last
        self.encoder = MixedPrecisionEncoder(model.encoder, self.dtype, self.device)
        self.decoder = copy.deepcopy(model.decoder).to(self.device, self.dtype, memory_format=fmt)
        self.sct = copy.deepcopy(model.sct).to(self.device, torch.float32)
        for module in (self.encoder, self.decoder, self.sct):
            module.eval().requires_grad_(False)

    @torch.inference_mode()
    def encode(self, images: torch.Tensor, tile: int | None = None, step: Step | None = None):
        """RGB images float [B, 3, H, W] in [0, 1] -> deepest features [B, C, H/s, W/s] (rounded
        up; the compute dtype, on the device)."""
        b, _, h, w = images.shape
        x = images.to(self.device, torch.float32).contiguous(memory_format=torch.channels_last)
        margin, channels = self.spec.encoder_margin, self.spec.channels

        def run(part: slice, side: int) -> torch.Tensor:
            return encode_tiled(self.encoder, x[part], side, margin, self.stride, channels, step)

        parts = self.planner.run(run, b, h, w, tile)
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    @torch.inference_mode()
    def style_code(self, image: torch.Tensor, name: str = "style") -> StyleCode:
        """The SCT code of one style image [1, 3, h, w]; ``name`` is used in errors."""
        h, w = image.shape[-2:]
        need = self.spec.min_style_size
        if h < need or w < need:
            raise InputError(
                f"{name}: image is {w}x{h} pixels; the {self.mode} model needs at least "
                f"{need}x{need} (SCT's unpadded convolutions). Use a larger style image."
            )
        return fusion.style_code(self.sct, self.encode(image))

    @torch.inference_mode()
    def fuse(
        self,
        features: torch.Tensor,
        code: StyleCode,
        stats: ContentStats | None = None,
        alpha: float = 1.0,
        wct: float = 0.0,
    ) -> torch.Tensor:
        """The product's fusion (:func:`ccpl_core.models.fusion.fuse`) on this device."""
        return fusion.fuse(self.sct, features, code, stats, alpha, wct)

    @torch.inference_mode()
    def decode(
        self,
        fused: torch.Tensor,
        size: tuple[int, int],
        tile: int | None = None,
        out: torch.Tensor | None = None,
        step: Step | None = None,
    ) -> torch.Tensor:
        """Fused features [B, C, h, w] -> images float32 [B, 3, H, W] cropped to ``size``.

        Written into ``out`` when given (any float tensor of that shape, on any device).
        """
        out = _images(out, fused, size)
        margin = self.spec.decoder_margin
        return self._decode_with(self.decoder, fused, out, size, margin, self.stride, tile, step)

    @torch.inference_mode()
    def decode_head(
        self,
        fused: torch.Tensor,
        size: tuple[int, int],
        tile: int | None = None,
        step: Step | None = None,
    ) -> torch.Tensor:
        """Fused features -> the decoder's full-resolution activations [B, 64, H', W'] before
        its last two convolutions (H', W': ``size`` rounded up to the stride)."""
        b, _, fh, fw = fused.shape
        shape = (b, DETAIL_CHANNELS, fh * self.stride, fw * self.stride)
        # channels-last from the start: the tail convolutions need no copy of the map
        fmt = torch.channels_last
        act = torch.empty(shape, dtype=self.dtype, device=fused.device, memory_format=fmt)
        margin = self.spec.decoder_margin
        head = self.decoder.head
        return self._decode_with(head, fused, act, size, margin, self.stride, tile, step)

    @torch.inference_mode()
    def decode_tail(
        self,
        act: torch.Tensor,
        size: tuple[int, int],
        tile: int | None = None,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Activations from :meth:`decode_head` -> images float32 [B, 3, H, W] (``size``)."""
        out = _images(out, act, size)
        tail = self.decoder.tail
        return self._decode_with(tail, act, out, size, TAIL_MARGIN, 1, tile, cap=TAIL_TILE)

    def _decode_with(
        self,
        part_of_decoder: Callable[[torch.Tensor], torch.Tensor],
        x: torch.Tensor,
        out: torch.Tensor,
        size: tuple[int, int],
        margin: int,
        stride: int,
        tile: int | None,
        step: Step | None = None,
        cap: int | None = None,
    ) -> torch.Tensor:
        """Run (part of) the decoder over ``x`` into ``out``, tiled as the planner says (tiles
        at most ``cap`` pixels), for images of ``size``."""
        x = x.to(self.dtype).contiguous(memory_format=torch.channels_last)
        full = tuple(out.shape[-2:])

        def run(part: slice, side: int) -> None:
            side = min(side, cap) if cap else side
            decode_tiled(part_of_decoder, x[part], full, side, margin, stride, out[part], step)

        self.planner.run(run, x.shape[0], *size, tile)
        return out


def _images(out: torch.Tensor | None, like: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``out``, or a new float32 [B, 3, *size] buffer on ``like``'s device."""
    if out is not None:
        return out
    return torch.empty(like.shape[0], 3, *size, dtype=torch.float32, device=like.device)


class MixedPrecisionEncoder(nn.Module):
    """The encoder with its first layers (Caffe preprocessing and conv1_1) kept in float32.

    Layer 0 maps [0, 1] pixels to ``255 x - mean``: in bf16 that cancellation alone costs about
    1 % of the picture, while conv1_1 is the cheapest convolution; everything after it runs in
    the fast dtype. Takes float32 images and returns features in the fast dtype.
    """

    def __init__(self, encoder: nn.Module, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__()
        layers = list(copy.deepcopy(encoder).children())
        split = HEAD_LAYERS if dtype != torch.float32 else len(layers)
        fmt = torch.channels_last
        self.head = nn.Sequential(*layers[:split]).to(device, torch.float32, memory_format=fmt)
        self.tail = nn.Sequential(*layers[split:]).to(device, dtype, memory_format=fmt)
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.head(x.float()).to(self.dtype))


class FeatureMoments:
    """Running per-channel sums of features over any number of frames (float64); with
    ``covariance`` also the sum of outer products, for the WCT share."""

    def __init__(self, covariance: bool = False) -> None:
        self.count = 0
        self.total: torch.Tensor | None = None
        self.total_sq: torch.Tensor | None = None
        self.outer: torch.Tensor | None = None
        self.covariance = covariance

    def add(self, feat: torch.Tensor) -> None:
        f = feat.float()  # float32 on the device (MPS has no float64), summed in float64 on the CPU
        s = f.sum(dim=(0, 2, 3)).cpu().double()
        sq = (f * f).sum(dim=(0, 2, 3)).cpu().double()
        self.total = s if self.total is None else self.total + s
        self.total_sq = sq if self.total_sq is None else self.total_sq + sq
        if self.covariance:
            o = whitening.outer_sum(feat).cpu()
            self.outer = o if self.outer is None else self.outer + o
        self.count += f.shape[0] * f.shape[2] * f.shape[3]

    def merge(self, other: FeatureMoments) -> None:
        """Add the frames ``other`` has seen (moments of a clip's shots, summed in order)."""
        if other.total is None:
            return
        for name in ("total", "total_sq", "outer"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs is not None:
                setattr(self, name, theirs.clone() if mine is None else mine + theirs)
        self.count += other.count

    def stats(self) -> ContentStats:
        if self.total is None or self.total_sq is None:
            raise InputError("no frames were seen to compute content statistics")
        outer = None if self.outer is None else self.outer[None]
        return ContentStats.from_moments(self.count, self.total[None], self.total_sq[None], outer)
