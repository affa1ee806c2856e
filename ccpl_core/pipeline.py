"""Stylisation of image batches: the one code path behind the CLI, the ComfyUI nodes and video.

A :class:`Stylizer` owns a runtime copy of a model on a device at a precision (the caller's model
is never modified). Style images are encoded once into a :class:`PreparedStyle` that is reused for
every content image. Content batches are processed in chunks that fit a memory budget; a single
image that does not fit is processed in exact tiles, and an out-of-memory error halves the tile
and retries.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from . import color, masks
from .errors import InputError, OutOfMemory
from .images import as_batch, to_rgb
from .models import ContentStats, SCTNet, StyleCode
from .models.decoder import DETAIL_CHANNELS
from .runtime import empty_cache, is_oom, memory_budget, resolve_device, resolve_dtype
from .tiling import (
    TAIL_MARGIN,
    TAIL_TILE,
    count_tiles,
    decode_tiled,
    encode_tiled,
)

#: Progress callback: (steps done, steps in total). It may raise to interrupt the work.
Progress = Callable[[int, int], None]
#: Edits fused features before decoding: (features [B, C, h, w], index of the first image in the
#: batch) -> features. Video uses it for feature-space temporal blending.
FeatureHook = Callable[[torch.Tensor, int], torch.Tensor]
#: Edits one image's full-resolution decoder activations (:meth:`Decoder.head`, [1, 64, H', W'],
#: H' and W' rounded up to the stride) before the last two convolutions: (activations, index of
#: the image in the batch) -> activations. Images come one at a time, in batch order.
DetailHook = Callable[[torch.Tensor, int], torch.Tensor]

#: Encoder children run in float32 in the fast modes (layer 0 + conv1_1 + relu1_1).
HEAD_LAYERS = 4
#: Smallest tile tried after repeated out-of-memory errors (and the CLI's smallest ``--tile``).
MIN_TILE = 128
#: Smallest tile the API takes. Tiles are exact at any size, but each carries a margin of 64
#: pixels (art) a side: a 32-pixel tile already computes 25 times its area, and tile 1 (which
#: ``max(stride, tile)`` used to turn into 8) nearly 300 times, a run that seems to hang.
SMALLEST_TILE = 32
#: Peak working memory per pixel of one image through encoder + SCT + decoder, by element size
#: of the compute dtype (measured on CPU with benchmarks/memory_per_pixel.py, with headroom).
BYTES_PER_PIXEL = {4: 700, 2: 400}


@dataclass
class PreparedStyle:
    """Encoded style(s), ready to fuse with any number of content images."""

    code: StyleCode
    mode: str
    images: list[torch.Tensor]  # the RGB style images (CPU), kept for colour matching
    weights: list[float]


class Stylizer:
    """Stylise images with an :class:`SCTNet` on one device at one precision."""

    def __init__(
        self,
        model: SCTNet,
        device: str | torch.device = "auto",
        precision: str = "fp32",
        memory_budget_bytes: int | None = None,
    ) -> None:
        self.model = model
        self.mode = model.mode
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(precision, self.device)
        self.stride = model.stride
        self._budget = memory_budget_bytes
        self.spec = model.spec
        self._channels = self.spec.channels
        fmt = torch.channels_last
        self.encoder = MixedPrecisionEncoder(model.encoder, self.dtype, self.device)
        self.decoder = copy.deepcopy(model.decoder).to(self.device, self.dtype, memory_format=fmt)
        self.sct = copy.deepcopy(model.sct).to(self.device, torch.float32)
        for module in (self.encoder, self.decoder, self.sct):
            module.eval().requires_grad_(False)

    # ------------------------------------------------------------------ style
    def prepare_style(
        self,
        styles: torch.Tensor | Sequence[torch.Tensor],
        weights: Sequence[float] | None = None,
    ) -> PreparedStyle:
        """Encode one or several styles (blended with ``weights``, default equal) once."""
        images = _split_styles(styles)
        weights = _normalise_weights(weights, len(images))
        with torch.inference_mode():
            codes = [self._style_code(img, f"style {i + 1}") for i, img in enumerate(images)]
        return PreparedStyle(StyleCode.blend(codes, weights), self.mode, images, weights)

    def _style_code(self, image: torch.Tensor, name: str) -> StyleCode:
        h, w = image.shape[-2:]
        need = self.model.min_style_size
        if h < need or w < need:
            raise InputError(
                f"{name}: image is {w}x{h} pixels; the {self.mode} model needs at least "
                f"{need}x{need} (SCT's unpadded convolutions). Use a larger style image."
            )
        x = image.to(self.device, torch.float32).contiguous(memory_format=torch.channels_last)
        tile = self._tile_for(1, h, w, None)
        while True:
            try:
                feat = encode_tiled(
                    self.encoder, x, tile, self.spec.encoder_margin, self.stride, self._channels
                )
                return self.sct.style_code(feat)
            except Exception as exc:
                tile = self._after_oom(exc, tile, h, w)

    # ---------------------------------------------------------------- content
    @torch.inference_mode()
    def stylize(
        self,
        content: torch.Tensor,
        style: PreparedStyle | torch.Tensor | Sequence[torch.Tensor],
        *,
        style_weights: Sequence[float] | None = None,
        alpha: float = 1.0,
        preserve_color: str | bool = "none",
        mask: torch.Tensor | None = None,
        outside: PreparedStyle | torch.Tensor | Sequence[torch.Tensor] | None = None,
        feather: float = masks.DEFAULT_FEATHER,
        tile: int | None = None,
        progress: Progress | None = None,
        content_stats: ContentStats | None = None,
        out: torch.Tensor | None = None,
        feature_hook: FeatureHook | None = None,
        detail_hook: DetailHook | None = None,
    ) -> torch.Tensor:
        """Stylise a content batch; returns float32 [B, 3, H, W] (or RGBA) on the content's device.

        Args:
            content: images [B, C, H, W] (or [C, H, W] / [H, W]), C in 1..4, any size.
            style: a :class:`PreparedStyle`, or style image(s) to prepare now.
            style_weights: blend weights when several style images are given.
            alpha: style strength in [0, 1]; 0 reproduces the content through the decoder.
            preserve_color: 'none', 'luminance' (True) or 'match'.
            mask: [B|1, H, W]; 1 = stylise. Outside the mask the content is kept, or ``outside``
                (a second style) is applied instead.
            feather: soft-edge radius of the mask in pixels.
            tile: tile size in pixels; None chooses automatically, 0 forbids tiling.
            progress: called with (done, total) steps; may raise to interrupt.
            content_stats: override the per-image content statistics (e.g. clip-level, video).
            out: a preallocated [B, 3 or 4, H, W] float tensor (it may be a permuted view of a
                [B, H, W, C] buffer) to write into, so a long clip is never held twice.
            feature_hook: called on each chunk's fused features before decoding, in batch
                order; a chunk retried after an out-of-memory error is passed again.
            detail_hook: called on each image's full-resolution decoder activations; with it,
                images are decoded one at a time (a retried chunk's images are passed again).
        """
        batch = as_batch(content, "content")
        self._check_content_size(batch.shape[-2], batch.shape[-1], "content")
        if tile:
            _checked_tile(tile)  # refused before any style or content is encoded
        if not 0.0 <= float(alpha) <= 1.0:
            raise InputError(f"alpha: style strength must be between 0 and 1, got {alpha}")
        method = _color_method(preserve_color)
        b, c, h, w = batch.shape
        prepared = (
            style if isinstance(style, PreparedStyle) else self.prepare_style(style, style_weights)
        )
        self._check_mode(prepared, "style")
        other = None
        if outside is not None:
            other = outside if isinstance(outside, PreparedStyle) else self.prepare_style(outside)
            self._check_mode(other, "outside style")
        m = masks.prepare_mask(mask, b, (h, w)) if mask is not None else None
        if m is not None:
            m = masks.feather(m, feather)
        channels = 4 if c in (2, 4) else 3
        if out is None:
            out = torch.empty(b, channels, h, w, dtype=torch.float32, device=content.device)
        elif not isinstance(out, torch.Tensor) or not out.is_floating_point():
            kind = out.dtype if isinstance(out, torch.Tensor) else type(out).__name__
            raise InputError(
                f"out: expected a floating-point tensor to hold values in [0, 1], got {kind}; "
                "allocate it as float32 (or leave out= unset)"
            )
        elif tuple(out.shape) != (b, channels, h, w) and tuple(out.shape) != (b, 3, h, w):
            raise InputError(f"out: expected shape {(b, channels, h, w)}, got {tuple(out.shape)}")

        chunk = self._chunk_size(b, h, w)
        tracker = _Tracker(progress)
        start = 0
        while start < b:
            stop = min(b, start + chunk)
            idx = slice(start, stop)
            rgb, alpha_channel = to_rgb(batch[idx], "content")
            code = self._per_image_codes(prepared, rgb) if method == "match" else prepared.code
            tile_px = self._tile_for(stop - start, h, w, tile)
            try:
                per_image = detail_hook is not None
                tracker.plan(self._steps(b - start, stop - start, h, w, tile_px, per_image))
                result = self._run_chunk(
                    rgb,
                    code,
                    float(alpha),
                    other,
                    m,
                    idx,
                    tile_px,
                    tracker,
                    content_stats,
                    feature_hook,
                    detail_hook,
                )
            except Exception as exc:
                if stop - start > 1 and is_oom(exc):
                    empty_cache(self.device)
                    chunk = max(1, (stop - start) // 2)
                else:
                    tile = self._after_oom(exc, tile_px, h, w)
                continue
            if method == "luminance":
                result = color.keep_content_chroma(result, rgb.to(result.device))
            if m is not None and other is None:
                mm = m[idx] if m.shape[0] == b else m
                result = torch.lerp(rgb.to(result.device), result, mm.to(result.device))
            out[idx, :3] = result.clamp_(0, 1).to(out.device)
            if alpha_channel is not None and out.shape[1] == 4:
                out[idx, 3:] = alpha_channel.to(out.device)
            start = stop
        return out

    @torch.inference_mode()
    def content_statistics(
        self, frames: torch.Tensor, progress: Progress | None = None
    ) -> ContentStats:
        """Channel statistics of the deepest content features over a whole batch (e.g. a clip).

        Passing them to :meth:`stylize` normalises every frame the same way, which removes the
        global flicker that per-frame statistics cause in video.
        """
        moments = FeatureMoments()
        batch = as_batch(frames, "frames")
        b, _, h, w = batch.shape
        self._check_content_size(h, w, "frames")
        chunk = self._chunk_size(b, h, w)
        for start in range(0, b, chunk):
            self.accumulate(batch[start : start + chunk], moments)
            if progress is not None:
                progress(min(b, start + chunk), b)
        return moments.stats()

    @torch.inference_mode()
    def accumulate(self, frames: torch.Tensor, moments: FeatureMoments) -> FeatureMoments:
        """Add the deepest-feature moments of ``frames`` to ``moments`` (streaming clip stats)."""
        rgb, _ = to_rgb(frames, "frames")
        h, w = rgb.shape[-2:]
        self._check_content_size(h, w, "frames")
        x = rgb.to(self.device, torch.float32).contiguous(memory_format=torch.channels_last)
        tile = self._tile_for(x.shape[0], h, w, None)
        feat = encode_tiled(
            self.encoder, x, tile, self.spec.encoder_margin, self.stride, self._channels
        )
        moments.add(feat)
        return moments

    def _run_chunk(
        self,
        rgb: torch.Tensor,
        code: StyleCode,
        alpha: float,
        other: PreparedStyle | None,
        m: torch.Tensor | None,
        idx: slice,
        tile: int,
        tracker: _Tracker,
        content_stats: ContentStats | None,
        feature_hook: FeatureHook | None = None,
        detail_hook: DetailHook | None = None,
    ) -> torch.Tensor:
        h, w = rgb.shape[-2:]
        x = rgb.to(self.device, torch.float32).contiguous(memory_format=torch.channels_last)
        feat = encode_tiled(
            self.encoder,
            x,
            tile,
            self.spec.encoder_margin,
            self.stride,
            self._channels,
            tracker.step,
        )
        del x
        if content_stats is not None:
            stats = ContentStats(
                content_stats.mean.to(feat.device), content_stats.std.to(feat.device)
            )
        else:
            stats = ContentStats.of(feat)
        fused = self._fuse(feat, code, stats, alpha)
        if other is not None:
            other_fused = self._fuse(feat, other.code, stats, alpha)
            if m is not None:
                mm = m[idx] if m.shape[0] > 1 else m
                grid = masks.to_feature_grid(mm.to(self.device), self.stride)
                fused = torch.lerp(other_fused, fused, grid)
            del other_fused
        del feat
        if feature_hook is not None:
            fused = feature_hook(fused, idx.start)
        fused = fused.to(self.dtype).contiguous(memory_format=torch.channels_last)
        margin = self.spec.decoder_margin
        if detail_hook is None:
            return decode_tiled(
                self.decoder, fused, (h, w), tile, margin, self.stride, step=tracker.step
            )
        return self._decode_with_detail_hook(fused, (h, w), tile, idx.start, tracker, detail_hook)

    def _decode_with_detail_hook(
        self,
        fused: torch.Tensor,
        size: tuple[int, int],
        tile: int,
        first: int,
        tracker: _Tracker,
        detail_hook: DetailHook,
    ) -> torch.Tensor:
        """Decode image by image: head (tiled) -> hook on the whole activation map -> tail (tiled).

        Both halves keep their own exact-tiling margin, so the result equals untiled decoding.
        """
        out = torch.empty(fused.shape[0], 3, *size, dtype=torch.float32, device=fused.device)
        fh, fw = fused.shape[-2:]
        full = (fh * self.stride, fw * self.stride)
        margin = self.spec.decoder_margin
        for i in range(fused.shape[0]):
            # channels-last from the start: the tail convolutions need no copy of the map
            act = torch.empty(
                1,
                DETAIL_CHANNELS,
                *full,
                dtype=self.dtype,
                device=fused.device,
                memory_format=torch.channels_last,
            )
            head_in = fused[i : i + 1]
            decode_tiled(
                self.decoder.head, head_in, full, tile, margin, self.stride, act, tracker.step
            )
            act = detail_hook(act, first + i)
            act = act.to(self.dtype).contiguous(memory_format=torch.channels_last)
            tail_tile = min(tile, TAIL_TILE)
            decode_tiled(
                self.decoder.tail, act, size, tail_tile, TAIL_MARGIN, 1, out=out[i : i + 1]
            )
            del act
        return out

    def _fuse(
        self, feat: torch.Tensor, code: StyleCode, stats: ContentStats, alpha: float
    ) -> torch.Tensor:
        fused = self.sct.fuse(feat, code.to(self.device), stats)
        if alpha < 1.0:
            fused = torch.lerp(feat.float(), fused, alpha)
        return fused

    def _per_image_codes(self, prepared: PreparedStyle, rgb: torch.Tensor) -> StyleCode:
        """Style codes recoloured to each content image ('match' colour preservation)."""
        codes = []
        for i in range(rgb.shape[0]):
            per_style = [
                self._style_code(color.match_color(s, rgb[i : i + 1]), f"style {k + 1}")
                for k, s in enumerate(prepared.images)
            ]
            codes.append(StyleCode.blend(per_style, prepared.weights))
        return StyleCode(torch.cat([c.matrix for c in codes]), torch.cat([c.mean for c in codes]))

    def _check_content_size(self, h: int, w: int, name: str) -> None:
        """Refuse a side the decoder cannot take (its reflection padding needs 2 feature rows)."""
        need = self.stride + 1
        if h < need or w < need:
            raise InputError(
                f"{name}: image is {w}x{h} pixels; the {self.mode} model needs at least {need} "
                f"pixels a side. Use a larger image or resize it to at least {need}x{need}."
            )

    def _check_mode(self, prepared: PreparedStyle, name: str) -> None:
        if prepared.mode != self.mode:
            raise InputError(
                f"{name}: prepared for a {prepared.mode} model but this model is {self.mode}"
            )

    def _after_oom(self, exc: Exception, tile: int, h: int, w: int) -> int:
        """Re-raise ``exc`` unless it is an out-of-memory error; else return a smaller tile."""
        if not is_oom(exc):
            raise exc
        empty_cache(self.device)
        smaller = _smaller_tile(tile, h, w, self.stride)
        if smaller is None:
            raise OutOfMemory(
                f"stylising a {w}x{h} image ran out of memory on {self.device} even with "
                f"{MIN_TILE}px tiles; free memory, use --device cpu or a smaller size"
            ) from exc
        return smaller

    # --------------------------------------------------------------- planning
    def budget(self) -> int:
        return memory_budget(self.device, self._budget)

    def _chunk_size(self, b: int, h: int, w: int) -> int:
        """How many images go through the network together."""
        return chunk_images(b, h, w, bytes_per_pixel(self.dtype), self.budget())

    def _tile_for(self, b: int, h: int, w: int, tile: int | None) -> int:
        """Tile side in pixels (>= max(h, w) means untiled)."""
        if tile == 0:
            return max(h, w)
        if tile is not None:
            return _checked_tile(tile)
        bpp = bytes_per_pixel(self.dtype)
        return tile_side(b, h, w, bpp, self.budget(), self.spec.encoder_margin, self.stride)

    def _steps(
        self, remaining: int, chunk: int, h: int, w: int, tile: int, per_image: bool = False
    ) -> int:
        """Progress steps left: encoder tiles plus decoder tiles (per image with a detail hook)."""
        decode = count_tiles(
            -(-h // self.stride), -(-w // self.stride), max(1, tile // self.stride), 1
        )
        chunks = -(-remaining // chunk)
        encode = count_tiles(h, w, tile, self.stride)
        return encode * chunks + decode * (remaining if per_image else chunks)


def bytes_per_pixel(dtype: torch.dtype) -> int:
    """Peak working bytes per image pixel of untiled stylisation at a compute dtype."""
    return BYTES_PER_PIXEL[_element_size(dtype)]


def chunk_images(b: int, h: int, w: int, bpp: int, budget: int) -> int:
    """How many of ``b`` images of ``h`` x ``w`` go through the network together."""
    return max(1, min(b, budget // max(1, h * w * bpp)))


def tile_side(b: int, h: int, w: int, bpp: int, budget: int, margin: int, stride: int) -> int:
    """Tile side in pixels for ``b`` images at once (>= max(h, w) means untiled)."""
    budget = budget // max(1, b)
    if h * w * bpp <= budget:
        return max(h, w)
    side = int((budget / bpp) ** 0.5) - 2 * margin
    side -= side % stride
    return max(MIN_TILE, side)


def model_bytes(model: SCTNet, dtype: torch.dtype) -> int:
    """Device bytes of the copies a :class:`Stylizer` makes of ``model`` at ``dtype``.

    A host that shares the device (ComfyUI) asks for this much before the model moves. The SCT
    and, in the fast dtypes, the encoder's first layers stay float32 (see MixedPrecisionEncoder).
    """
    layers = list(model.encoder.children())
    split = HEAD_LAYERS if dtype != torch.float32 else len(layers)
    exact = _elements(layers[:split]) + _elements([model.sct])
    fast = _elements(layers[split:]) + _elements([model.decoder])
    return exact * 4 + fast * _element_size(dtype)


def step_bytes(
    model: SCTNet,
    dtype: torch.dtype,
    batch: int,
    height: int,
    width: int,
    budget: int,
    detail: bool = False,
) -> int:
    """Device working bytes of the largest step :meth:`Stylizer.stylize` takes (model excluded).

    Uses the planner's own choice for ``batch`` images of ``height`` x ``width`` under ``budget``:
    a chunk of whole images, or one image in tiles plus the whole-image buffers that tiling keeps
    on the device (input, features, fused features, output). ``detail``: a detail hook is used
    (video ``detail_blend``), which keeps full-resolution decoder activations. An estimate with
    the headroom of :data:`BYTES_PER_PIXEL`, so a host frees one step's memory, not a batch's.
    """
    elem = _element_size(dtype)
    bpp = BYTES_PER_PIXEL[elem]
    margin, stride = model.spec.encoder_margin, model.stride
    chunk = chunk_images(batch, height, width, bpp, budget)
    side = tile_side(chunk, height, width, bpp, budget, margin, stride)
    pixels = chunk * height * width
    # with a detail hook, images are decoded one at a time through a whole full-resolution
    # activation map; its blended copy and the previous frame's map (the carry) live beside it
    detail_maps = 3 * height * width * DETAIL_CHANNELS * elem if detail else 0
    if side >= max(height, width):
        return pixels * bpp + detail_maps
    span = side + 2 * margin
    tile = min(height, span) * min(width, span) * bpp
    channels = model.spec.channels
    # features (fast dtype), fused in float32 (+ its alpha blend) and its fast copy, per pixel
    features = channels * (2 * elem + 8) / stride**2
    whole = pixels * (2 * 3 * 4 + features)
    return int(tile + whole + detail_maps)


def _element_size(dtype: torch.dtype) -> int:
    return 4 if dtype == torch.float32 else torch.finfo(dtype).bits // 8


def _elements(modules: Sequence[nn.Module]) -> int:
    return sum(t.numel() for m in modules for t in m.state_dict().values() if t.is_floating_point())


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
    """Running per-channel sums of features over any number of frames (float64)."""

    def __init__(self) -> None:
        self.count = 0
        self.total: torch.Tensor | None = None
        self.total_sq: torch.Tensor | None = None

    def add(self, feat: torch.Tensor) -> None:
        f = feat.double()
        s, sq = f.sum(dim=(0, 2, 3)).cpu(), (f * f).sum(dim=(0, 2, 3)).cpu()
        self.total = s if self.total is None else self.total + s
        self.total_sq = sq if self.total_sq is None else self.total_sq + sq
        self.count += f.shape[0] * f.shape[2] * f.shape[3]

    def stats(self) -> ContentStats:
        if self.total is None or self.total_sq is None:
            raise InputError("no frames were seen to compute content statistics")
        return ContentStats.from_moments(self.count, self.total[None], self.total_sq[None])


class _Tracker:
    """Counts steps across chunks and re-plans the total when chunking changes."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.done = 0
        self.total = 0

    def plan(self, remaining_steps: int) -> None:
        self.total = self.done + remaining_steps

    def step(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)


def _checked_tile(tile: float) -> int:
    """A tile side given by the caller, refused when it would be too small to be practical."""
    try:
        side = float(tile)
    except (TypeError, ValueError):
        side = math.nan
    whole = math.isfinite(side) and side == int(side) and not isinstance(tile, bool)
    if not whole or side < SMALLEST_TILE:
        raise InputError(
            f"tile: expected 0 (untiled), None (automatic) or a whole number of at least "
            f"{SMALLEST_TILE} pixels ({MIN_TILE} or more is efficient), got {tile!r}"
        )
    return int(side)


def _smaller_tile(tile: int, h: int, w: int, stride: int) -> int | None:
    current = min(tile, max(h, w))
    nxt = current // 2
    nxt -= nxt % stride
    return nxt if nxt >= MIN_TILE else None


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


def _color_method(preserve_color: str | bool) -> str:
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
