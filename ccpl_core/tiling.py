"""Exact tiled encoding and decoding, so any resolution fits in a fixed amount of memory.

Tiles start on multiples of the encoder's pooling stride and carry a margin wider than the
receptive field, so every kept feature (and pixel) equals the untiled one: reflection padding at
an artificial tile edge never reaches the kept core, and ceil-mode pooling sees the same windows.
SCT needs whole-image content statistics; the pipeline therefore encodes all tiles into one
feature map, fuses it once, then decodes it tile by tile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

#: Pixels of context around a tile of the decoder's tail (two 3x3 convolutions: radius 2).
TAIL_MARGIN = 2
#: Largest tile of the tail (pixels): its input is a 64-channel full-resolution map, so even when
#: the network runs untiled, tiles this size keep the tail's padded copies small (~70 MB).
TAIL_TILE = 512

Step = Callable[[], None]


@dataclass(frozen=True)
class Span:
    """One tile along one axis: the kept core [start, stop) and the computed range with margin."""

    start: int
    stop: int
    lo: int
    hi: int


def spans(length: int, tile: int, margin: int, align: int) -> list[Span]:
    """Cut ``[0, length)`` into cores of ``tile`` (a multiple of ``align``) plus ``margin``."""
    if tile >= length:
        return [Span(0, length, 0, length)]
    tile = max(align, tile - tile % align)
    out = []
    for start in range(0, length, tile):
        stop = min(length, start + tile)
        out.append(Span(start, stop, max(0, start - margin), min(length, stop + margin)))
    return out


def grid(h: int, w: int, tile: int, margin: int, align: int) -> Iterator[tuple[Span, Span]]:
    for sy in spans(h, tile, margin, align):
        for sx in spans(w, tile, margin, align):
            yield sy, sx


def count_tiles(h: int, w: int, tile: int, align: int) -> int:
    return len(spans(h, tile, 0, align)) * len(spans(w, tile, 0, align))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def encode_tiled(
    encoder: nn.Module,
    image: torch.Tensor,
    tile: int,
    margin: int,
    stride: int,
    out_channels: int,
    step: Step | None = None,
) -> torch.Tensor:
    """Deepest encoder features of ``image`` [B, 3, H, W], computed ``tile`` pixels at a time."""
    b, _, h, w = image.shape
    tiles = list(grid(h, w, tile, margin, stride))
    if len(tiles) == 1:
        feat = encoder(image)
        if step:
            step()
        return feat
    out: torch.Tensor | None = None
    for sy, sx in tiles:
        feat = encoder(image[:, :, sy.lo : sy.hi, sx.lo : sx.hi])
        if out is None:
            out = feat.new_empty(b, out_channels, _ceil_div(h, stride), _ceil_div(w, stride))
        fy0, fy1 = sy.start // stride, _ceil_div(sy.stop, stride)
        fx0, fx1 = sx.start // stride, _ceil_div(sx.stop, stride)
        oy, ox = sy.lo // stride, sx.lo // stride
        out[:, :, fy0:fy1, fx0:fx1] = feat[:, :, fy0 - oy : fy1 - oy, fx0 - ox : fx1 - ox]
        if step:
            step()
    assert out is not None
    return out


def decode_tiled(
    decoder: Callable[[torch.Tensor], torch.Tensor],
    feat: torch.Tensor,
    size: tuple[int, int],
    tile: int,
    margin: int,
    stride: int,
    out: torch.Tensor | None = None,
    step: Step | None = None,
) -> torch.Tensor:
    """Decode features [B, C, h, w] to images cropped to ``size``, ``tile`` pixels at a time.

    ``decoder`` up-samples by ``stride`` (the whole decoder, or one of its parts) and ``margin``
    is in input positions. The result is written into ``out`` (float32 [B, 3, H, W] allocated
    when None; a part of the decoder needs an ``out`` of its own output's shape).
    """
    b = feat.shape[0]
    h, w = size
    fh, fw = feat.shape[-2:]
    if out is None:
        out = torch.empty(b, 3, h, w, dtype=torch.float32, device=feat.device)
    ftile = max(1, tile // stride)
    for sy, sx in grid(fh, fw, ftile, margin, 1):
        img = decoder(feat[:, :, sy.lo : sy.hi, sx.lo : sx.hi])
        y0, y1 = sy.start * stride, min(h, sy.stop * stride)
        x0, x1 = sx.start * stride, min(w, sx.stop * stride)
        oy, ox = sy.lo * stride, sx.lo * stride
        out[:, :, y0:y1, x0:x1] = img[:, :, y0 - oy : y1 - oy, x0 - ox : x1 - ox].to(out.device)
        if step:
            step()
    return out
