"""Stylisation of image batches: the one code path behind the CLI, the ComfyUI nodes and video.

A :class:`Stylizer` is the network's stages (:mod:`ccpl_core.stages`) plus what users ask for:
styles encoded once into a :class:`PreparedStyle` and blended, style strength, the style's
palette (:mod:`ccpl_core.palette`), colour preservation, masks with a second style outside them,
progress. :meth:`Stylizer.stylize` is the whole method in a few lines: encode the content, fuse
it with the style (SCT, with a share of the closed-form WCT mixed in), decode.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

from . import color, masks
from .declared import Option, check_fields, declared
from .edges import content_edges
from .errors import InputError
from .images import as_batch, to_rgb
from .models import ContentStats, StyleCode
from .models.whitening import DEFAULT_WCT
from .palette import DEFAULT_PALETTE, Palette, toward
from .planner import TILE
from .stages import FeatureMoments, Stages

__all__ = ["FeatureMoments", "ImageOptions", "PreparedStyle", "Progress", "Stylizer"]

#: Progress callback: (steps done, steps in total). It may raise to interrupt the work.
Progress = Callable[[int, int], None]


def _share(name: str, default: float, help: str) -> Option:
    return Option(name, default, help, "float", low=0.0, high=1.0, step=0.05)


ALPHA = Option(
    "alpha",
    1.0,
    "style strength: 0 = the content, 1 = full style",
    "float",
    low=0.0,
    high=1.0,
    step=0.01,
)
PALETTE = _share(
    "palette",
    DEFAULT_PALETTE,
    "move the result's colours this share of the way to the style's palette (each colour to the "
    "style's at the same rank): 0 = the network's own colours, 1 = the style's; off when colours "
    "are preserved",
)
WCT = _share(
    "wct",
    DEFAULT_WCT,
    "mix this share of the closed-form whitening-colouring transform (WCT) into the SCT "
    "network's fusion: more of each style's own texture and colours; 0 = the SCT network alone, "
    "as in the paper",
)
PRESERVE_COLOR = Option(
    "preserve_color",
    color.COLOR_METHODS[0],
    "keep the content's colours: luminance = transfer the texture only; match = recolour the "
    "style to the content first",
    "choice",
    choices=color.COLOR_METHODS,
)
MASK_FEATHER = Option(
    "mask_feather",
    masks.DEFAULT_FEATHER,
    "soft edge of the mask: blur radius in pixels",
    "int",
    low=0,
    high=10000,
    widget_high=256,
)


@dataclass(frozen=True)
class ImageOptions:
    """What :meth:`Stylizer.stylize` is asked for besides the images, declared and validated on
    construction (one :class:`InputError` line naming the option)."""

    alpha: float = declared(ALPHA)
    palette: float = declared(PALETTE)
    wct: float = declared(WCT)
    preserve_color: str = declared(PRESERVE_COLOR)
    feather: int = declared(MASK_FEATHER)
    tile: int | None = declared(TILE)

    def __post_init__(self) -> None:
        check_fields(self)

    @classmethod
    def of(cls, preserve_color: str | bool = "none", **given: Any) -> ImageOptions:
        """Options with ``preserve_color`` also given as a switch (True = 'luminance')."""
        return cls(preserve_color=color_method(preserve_color), **given)


@dataclass
class PreparedStyle:
    """Encoded style(s), ready to fuse with any number of content images."""

    code: StyleCode
    mode: str
    images: list[torch.Tensor]  # the RGB style images (CPU), kept for colour matching
    weights: list[float]

    @cached_property
    def palette(self) -> Palette:
        """The colours of the style images pooled with their blend weights."""
        return Palette.of(self.images, self.weights)


class Stylizer(Stages):
    """Stylise images with an :class:`SCTNet` on one device at one precision."""

    def prepare_style(
        self,
        styles: torch.Tensor | Sequence[torch.Tensor],
        weights: Sequence[float] | None = None,
    ) -> PreparedStyle:
        """Encode one or several styles (blended with ``weights``, default equal) once."""
        images = _split_styles(styles)
        weights = _normalise_weights(weights, len(images))
        codes = [self.style_code(img, f"style {i + 1}") for i, img in enumerate(images)]
        return PreparedStyle(StyleCode.blend(codes, weights), self.mode, images, weights)

    def style_for(self, prepared: PreparedStyle, rgb: torch.Tensor, method: str) -> StyleCode:
        """The code to fuse ``rgb`` [B, 3, H, W] with: the prepared one, or for colour method
        'match' the styles recoloured to each content image and encoded again."""
        if method != "match":
            return prepared.code
        codes = []
        for i in range(rgb.shape[0]):
            per_style = [
                self.style_code(color.match_color(s, rgb[i : i + 1]), f"style {k + 1}")
                for k, s in enumerate(prepared.images)
            ]
            codes.append(StyleCode.blend(per_style, prepared.weights))
        return StyleCode.cat(codes)

    @torch.inference_mode()
    def stylize(
        self,
        content: torch.Tensor,
        style: PreparedStyle | torch.Tensor | Sequence[torch.Tensor],
        *,
        style_weights: Sequence[float] | None = None,
        alpha: float = ALPHA.default,
        palette: float = PALETTE.default,
        wct: float = WCT.default,
        preserve_color: str | bool = PRESERVE_COLOR.default,
        mask: torch.Tensor | None = None,
        outside: PreparedStyle | torch.Tensor | Sequence[torch.Tensor] | None = None,
        feather: float = MASK_FEATHER.default,
        tile: int | None = TILE.default,
        progress: Progress | None = None,
        content_stats: ContentStats | None = None,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Stylise a content batch; returns float32 [B, 3, H, W] (or RGBA) on the content's device.

        Args:
            Options are declared and checked by :class:`ImageOptions`.
            content: images [B, C, H, W] (or [C, H, W] / [H, W]), C in 1..4, any size.
            style: a :class:`PreparedStyle`, or style image(s) to prepare now.
            style_weights: blend weights when several style images are given.
            alpha: style strength in [0, 1]; 0 reproduces the content through the decoder.
            palette: share of the way in [0, 1] each result's colours move to the style's
                palette (scaled by ``alpha``); not applied when colours are preserved.
            wct: share in [0, 1] of the closed-form whitening-colouring transform mixed into
                SCT's fusion (:mod:`ccpl_core.models.whitening`); 0 = SCT alone, as in the paper.
            preserve_color: 'none', 'luminance' (True) or 'match'.
            mask: [B|1, H, W]; 1 = stylise. Outside the mask the content is kept, or ``outside``
                (a second style) is applied instead.
            feather: soft-edge radius of the mask in pixels.
            tile: tile size in pixels; None chooses automatically, 0 forbids tiling.
            progress: called with (done, total) steps; may raise to interrupt.
            content_stats: normalise every image with these statistics (e.g. a whole clip's, see
                :meth:`content_statistics`) instead of its own.
            out: a preallocated [B, 3 or 4, H, W] float tensor (it may be a permuted view of a
                [B, H, W, C] buffer) to write into, so a long clip is never held twice.
        """
        # refused before any style or content is encoded
        opts = ImageOptions.of(
            alpha=alpha,
            palette=palette,
            wct=wct,
            preserve_color=preserve_color,
            feather=feather,
            tile=tile,
        )
        alpha, wct, tile, method = opts.alpha, opts.wct, opts.tile, opts.preserve_color
        batch = as_batch(content, "content")
        b, c, h, w = batch.shape
        self.check_content_size(h, w, "content")
        share = palette_share(opts.palette, alpha, method)
        check_statistics(content_stats, wct)
        prepared = self.prepared(style, "style", style_weights)
        other = self.prepared(outside, "outside style") if outside is not None else None
        m = masks.prepare_mask(mask, b, (h, w)) if mask is not None else None
        if m is not None:
            m = masks.feather(m, opts.feather)
        out = output_buffer(out, b, 4 if c in (2, 4) else 3, h, w, content.device)
        tracker = _Tracker(progress, self.planner.steps(b, h, w, tile))
        chunk = self.planner.chunk(b, h, w)
        for start in range(0, b, chunk):
            idx = slice(start, min(b, start + chunk))
            rgb, alpha_channel = to_rgb(batch[idx], "content")
            mm = None if m is None else (m[idx] if m.shape[0] == b else m)  # this chunk's mask
            feat = self.encode(rgb, tile, tracker.step)
            stats = content_stats or ContentStats.of(feat, covariance=wct > 0)
            fused = self.fuse(feat, self.style_for(prepared, rgb, method), stats, alpha, wct)
            if other is not None and mm is not None:  # the second style outside the mask
                elsewhere = self.fuse(feat, other.code, stats, alpha, wct)
                grid = masks.to_feature_grid(mm.to(self.device), self.stride)
                fused = torch.lerp(elsewhere, fused, grid)
                del elsewhere
            del feat
            result = self.decode(fused, (h, w), tile, step=tracker.step)
            del fused
            if self.spec.content_edges:
                result = content_edges(result, rgb)
            if share:
                result = recolor(result, share, prepared, mm, other)
            keep = mm if other is None else None  # the content outside the mask
            out[idx, :3] = finish(result, rgb, method, keep).to(out.device)
            if alpha_channel is not None and out.shape[1] == 4:
                out[idx, 3:] = alpha_channel.to(out.device)
        return out

    def prepared(
        self,
        style: PreparedStyle | torch.Tensor | Sequence[torch.Tensor],
        name: str,
        weights: Sequence[float] | None = None,
    ) -> PreparedStyle:
        """``style`` prepared for this model (encoded now unless it already is)."""
        if not isinstance(style, PreparedStyle):
            return self.prepare_style(style, weights)
        if style.mode != self.mode:
            raise InputError(
                f"{name}: prepared for a {style.mode} model but this model is {self.mode}"
            )
        return style

    @torch.inference_mode()
    def content_statistics(
        self, frames: torch.Tensor, progress: Progress | None = None
    ) -> ContentStats:
        """Channel statistics of the deepest content features over a whole batch (e.g. a clip).

        Passing them to :meth:`stylize` normalises every frame the same way, which removes the
        global flicker that per-frame statistics cause in video.
        """
        moments = FeatureMoments(covariance=True)
        batch = as_batch(frames, "frames")
        b, _, h, w = batch.shape
        self.check_content_size(h, w, "frames")
        chunk = self.planner.chunk(b, h, w)
        for start in range(0, b, chunk):
            self.accumulate(batch[start : start + chunk], moments)
            if progress is not None:
                progress(min(b, start + chunk), b)
        return moments.stats()

    @torch.inference_mode()
    def accumulate(self, frames: torch.Tensor, moments: FeatureMoments) -> FeatureMoments:
        """Add the deepest-feature moments of ``frames`` to ``moments`` (streaming clip stats)."""
        rgb, _ = to_rgb(frames, "frames")
        self.check_content_size(*rgb.shape[-2:], "frames")
        moments.add(self.encode(rgb))
        return moments

    def check_content_size(self, h: int, w: int, name: str) -> None:
        """Refuse a side the decoder cannot take (its reflection padding needs 2 feature rows)."""
        need = self.spec.min_content_size
        if h < need or w < need:
            raise InputError(
                f"{name}: image is {w}x{h} pixels; the {self.mode} model needs at least {need} "
                f"pixels a side. Use a larger image or resize it to at least {need}x{need}."
            )

    def budget(self) -> int:
        return self.planner.budget()


def recolor(
    result: torch.Tensor,
    share: float,
    style: PreparedStyle,
    mask: torch.Tensor | None = None,
    outside: PreparedStyle | None = None,
) -> torch.Tensor:
    """Decoded images [B, 3, H, W] moved ``share`` of the way to the style's palette, each by
    its own colours; with a ``mask`` [B|1, 1, H, W] (1 = stylised) by the colours inside it, and
    with an ``outside`` style its region moved to that style's palette."""
    for i, image in enumerate(result):  # in place, one image's copy at a time
        m = None if mask is None else mask[i if mask.shape[0] > 1 else 0, 0].to(image)
        moved = toward(image, style.palette, share, m)
        if outside is not None and m is not None:
            moved = torch.lerp(toward(image, outside.palette, share, 1 - m), moved, m)
        result[i] = moved
    return result


def finish(
    result: torch.Tensor, rgb: torch.Tensor, method: str, keep: torch.Tensor | None = None
) -> torch.Tensor:
    """Decoded images -> final ones: colour preservation, the content kept outside ``keep`` (a
    mask, 1 = stylised), clamped to [0, 1]."""
    if method == "luminance":
        result = color.keep_content_chroma(result, rgb.to(result.device))
    if keep is not None:
        result = torch.lerp(rgb.to(result.device), result, keep.to(result.device))
    return result.clamp_(0, 1)


def output_buffer(
    out: torch.Tensor | None, b: int, channels: int, h: int, w: int, device: torch.device
) -> torch.Tensor:
    """``out`` checked to hold [b, channels (or 3), h, w] floats, or a new buffer on ``device``."""
    if out is None:
        return torch.empty(b, channels, h, w, dtype=torch.float32, device=device)
    if not isinstance(out, torch.Tensor) or not out.is_floating_point():
        kind = out.dtype if isinstance(out, torch.Tensor) else type(out).__name__
        raise InputError(
            f"out: expected a floating-point tensor to hold values in [0, 1], got {kind}; "
            "allocate it as float32 (or leave out= unset)"
        )
    if tuple(out.shape) not in ((b, channels, h, w), (b, 3, h, w)):
        raise InputError(f"out: expected shape {(b, channels, h, w)}, got {tuple(out.shape)}")
    return out


def palette_share(palette: float, alpha: float, method: str) -> float:
    """How far the palette step moves the colours: ``palette`` scaled by the style strength, and
    nothing when the content's colours are preserved (``method`` not 'none')."""
    return float(palette) * float(alpha) if method == "none" else 0.0


def check_statistics(stats: ContentStats | None, wct: float) -> None:
    """Given statistics must carry the covariance when a WCT share is asked for."""
    if wct and stats is not None and stats.covariance is None:
        raise InputError(
            "content_stats: no feature covariance, which the WCT share needs; make them with "
            "Stylizer.content_statistics or ContentStats.of(features, covariance=True), or "
            "pass wct=0"
        )


class _Tracker:
    """Counts tile steps against a planned total (which a retry may exceed: it is capped)."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress = progress
        self.done = 0
        self.total = max(1, total)

    def step(self) -> None:
        self.done += 1
        self.total = max(self.total, self.done)
        if self.progress is not None:
            self.progress(self.done, self.total)


def _split_styles(styles: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """A batch tensor (each image one style) or a list of images -> list of [1, 3, h, w]."""
    if isinstance(styles, torch.Tensor):
        rgb, _ = to_rgb(styles, "style")
        return [rgb[i : i + 1].cpu() for i in range(rgb.shape[0])]
    if not isinstance(styles, Sequence) or len(styles) == 0:
        raise InputError("style: give at least one style image")
    out = []
    for i, s in enumerate(styles):
        rgb, _ = to_rgb(s, f"style {i + 1}")
        out += [rgb[j : j + 1].cpu() for j in range(rgb.shape[0])]
    return out


def two_group_weights(
    first: int, within: Sequence[float] | None, second: int = 0, second_share: float = 0.0
) -> list[float]:
    """Blend weights of ``first`` style images weighted ``within`` (default equal) followed by
    ``second`` images that share ``second_share`` of the blend equally (a second style input)."""
    within = within or [1.0] * first
    if not second:
        return [w / sum(within) for w in within]
    share = 1.0 - second_share
    return [share * w / sum(within) for w in within] + [second_share / second] * second


def _normalise_weights(weights: Sequence[float] | None, n: int) -> list[float]:
    """Weights summing to 1; a NaN or infinite weight would blend into a black image."""
    if weights is None:
        return [1.0 / n] * n
    try:
        ws = [float(x) for x in weights]
    except (TypeError, ValueError):
        raise InputError(f"style weights: expected numbers, got {list(weights)!r}") from None
    if len(ws) != n:
        raise InputError(f"style weights: got {len(ws)} weights for {n} style images")
    total = sum(ws)
    if not all(math.isfinite(x) and x >= 0 for x in ws) or not (math.isfinite(total) and total > 0):
        raise InputError(
            f"style weights: each must be a finite number >= 0 and their sum positive, got {ws}"
        )
    return [x / total for x in ws]


def color_method(preserve_color: str | bool) -> str:
    """The colour method named by ``preserve_color`` (True means 'luminance')."""
    if preserve_color is True:
        return "luminance"
    if preserve_color is False or preserve_color is None:
        return "none"
    if preserve_color not in color.COLOR_METHODS:
        raise InputError(
            f"preserve_color: expected one of {', '.join(color.COLOR_METHODS)}, "
            f"got {preserve_color!r}"
        )
    return str(preserve_color)
