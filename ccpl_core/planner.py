"""Memory planning: how many images go through a stage together, in what tiles, and retrying.

One :class:`MemoryPlanner` per stylizer owns the memory budget, the chunk of images a stage takes
at once, the tile side, and the out-of-memory retry: :meth:`MemoryPlanner.run` returns only once
a stage has succeeded on every image, halving the chunk and then the tile after each
out-of-memory error. A stage is therefore never half-applied, and callers (video's temporal
state included) never see a retry.

The byte estimates also tell a host that shares the device (ComfyUI) how much to free first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import torch
from torch import nn

from .declared import Option
from .errors import OutOfMemory
from .models import SCTNet
from .models.decoder import DETAIL_CHANNELS
from .modes import Mode
from .runtime import empty_cache, is_oom, memory_budget
from .tiling import count_tiles

#: Smallest tile tried after repeated out-of-memory errors (and the node's smallest ``tile``).
MIN_TILE = 128
#: Smallest tile the API takes. Tiles are exact at any size, but each carries a margin of 64
#: pixels (art) a side: a 32-pixel tile already computes 25 times its area, and tile 1 nearly
#: 300 times, a run that seems to hang.
SMALLEST_TILE = 32
#: Peak working memory per pixel of one image through encoder + SCT + decoder, by element size
#: of the compute dtype (measured on CPU with benchmarks/memory_per_pixel.py, with headroom).
BYTES_PER_PIXEL = {4: 700, 2: 400}
#: Encoder children run in float32 in the fast modes (layer 0 + conv1_1 + relu1_1).
HEAD_LAYERS = 4

T = TypeVar("T")
#: A stage applied to the images ``part`` of a batch with tiles of ``tile`` pixels.
Stage = Callable[[slice, int], T]


class MemoryPlanner:
    """Chunks, tiles and out-of-memory retries for one device, dtype and mode."""

    def __init__(
        self, device: torch.device, dtype: torch.dtype, mode: Mode, budget: int | None = None
    ) -> None:
        self.device, self.dtype, self.mode = device, dtype, mode
        self._budget = budget

    def budget(self) -> int:
        """Bytes a stage may use now (asked each time: free memory changes)."""
        return memory_budget(self.device, self._budget)

    def chunk(self, b: int, h: int, w: int) -> int:
        """How many of ``b`` images of ``h`` x ``w`` go through the network together."""
        return chunk_images(b, h, w, bytes_per_pixel(self.dtype), self.budget())

    def tile(self, b: int, h: int, w: int, requested: int | None = None) -> int:
        """Tile side in pixels (>= max(h, w) means untiled); ``requested`` 0 forbids tiling."""
        if requested == 0:
            return max(h, w)
        if requested is not None:
            return TILE.check(requested)
        bpp = bytes_per_pixel(self.dtype)
        margin, stride = self.mode.encoder_margin, self.mode.stride
        return tile_side(b, h, w, bpp, self.budget(), margin, stride)

    def run(self, stage: Stage[T], b: int, h: int, w: int, tile: int | None = None) -> list[T]:
        """Apply ``stage`` to images 0..b-1 of ``h`` x ``w``; one result per part, in order.

        Parts are as large as the budget allows; after an out-of-memory error the failed part is
        retried with half the images, and a single image with half the tile, down to
        :data:`MIN_TILE` (then :class:`OutOfMemory`). Other errors propagate at once.
        """
        results: list[T] = []
        size = self.chunk(b, h, w)
        forced: int | None = None  # a tile made smaller after an out-of-memory error
        start = 0
        while start < b:
            part = slice(start, min(b, start + size))
            n = part.stop - part.start
            side = forced or self.tile(n, h, w, tile)
            try:
                results.append(stage(part, side))
            except Exception as exc:
                if not is_oom(exc):
                    raise
                empty_cache(self.device)
                if n > 1:
                    size = max(1, n // 2)
                else:
                    forced = self._smaller(exc, side, h, w)
                continue
            start = part.stop
        return results

    def _smaller(self, exc: Exception, tile: int, h: int, w: int) -> int:
        current = min(tile, max(h, w))
        smaller = current // 2
        smaller -= smaller % self.mode.stride
        if smaller < MIN_TILE:
            raise OutOfMemory(
                f"stylising a {w}x{h} image ran out of memory on {self.device} even with "
                f"{MIN_TILE}px tiles; free memory, run on the CPU or use a smaller size"
            ) from exc
        return smaller

    def steps(self, b: int, h: int, w: int, tile: int | None) -> int:
        """Progress steps of encoding and decoding ``b`` images: tiles of both, per chunk."""
        chunk = self.chunk(b, h, w)
        side = self.tile(chunk, h, w, tile)
        stride = self.mode.stride
        decode = count_tiles(-(-h // stride), -(-w // stride), max(1, side // stride), 1)
        return (count_tiles(h, w, side, stride) + decode) * -(-b // chunk)


def bytes_per_pixel(dtype: torch.dtype) -> int:
    """Peak working bytes per image pixel of untiled stylisation at a compute dtype."""
    return BYTES_PER_PIXEL[element_size(dtype)]


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


#: The tile size a caller may ask for: None chooses from free memory, 0 never tiles.
TILE = Option(
    "tile",
    None,
    f"tile size in pixels, {SMALLEST_TILE} or more ({MIN_TILE} or more is efficient); "
    "0 = never tile",
    "int",
    low=SMALLEST_TILE,
    zero_off=True,
    shown_default="automatic from free memory",
)


def model_bytes(model: SCTNet, dtype: torch.dtype) -> int:
    """Device bytes of the copies a stylizer makes of ``model`` at ``dtype``.

    A host that shares the device (ComfyUI) asks for this much before the model moves. The SCT
    and, in the fast dtypes, the encoder's first layers stay float32 (see MixedPrecisionEncoder).
    """
    layers = list(model.encoder.children())
    split = HEAD_LAYERS if dtype != torch.float32 else len(layers)
    exact = _elements(layers[:split]) + _elements([model.sct])
    fast = _elements(layers[split:]) + _elements([model.decoder])
    return exact * 4 + fast * element_size(dtype)


def step_bytes(
    model: SCTNet,
    dtype: torch.dtype,
    batch: int,
    height: int,
    width: int,
    budget: int,
    detail: bool = False,
) -> int:
    """Device working bytes of the largest step a stylizer takes (model excluded).

    Uses the planner's own choice for ``batch`` images of ``height`` x ``width`` under ``budget``:
    a chunk of whole images, or one image in tiles plus the whole-image buffers that tiling keeps
    on the device (input, features, fused features, output). ``detail``: video's detail blend,
    which keeps full-resolution decoder activations. An estimate with the headroom of
    :data:`BYTES_PER_PIXEL`, so a host frees one step's memory, not a batch's.
    """
    elem = element_size(dtype)
    bpp = BYTES_PER_PIXEL[elem]
    margin, stride = model.spec.encoder_margin, model.stride
    chunk = chunk_images(batch, height, width, bpp, budget)
    side = tile_side(chunk, height, width, bpp, budget, margin, stride)
    pixels = chunk * height * width
    # with the detail blend, images are decoded one at a time through a whole full-resolution
    # activation map; its blended copy and the previous frame's map (the carry) live beside it
    detail_maps = 3 * height * width * DETAIL_CHANNELS * elem if detail else 0
    if side >= max(height, width):
        return pixels * bpp + detail_maps
    span = side + 2 * margin
    tile = min(height, span) * min(width, span) * bpp
    # features (fast dtype), fused in float32 (+ its alpha blend) and its fast copy, per pixel
    features = model.spec.channels * (2 * elem + 8) / stride**2
    whole = pixels * (2 * 3 * 4 + features)
    return int(tile + whole + detail_maps)


def element_size(dtype: torch.dtype) -> int:
    return 4 if dtype == torch.float32 else torch.finfo(dtype).bits // 8


def _elements(modules: Sequence[nn.Module]) -> int:
    return sum(t.numel() for m in modules for t in m.state_dict().values() if t.is_floating_point())
