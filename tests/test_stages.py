"""The network's stages (encode, fuse, decode) and the memory planner that runs them."""

from __future__ import annotations

import pytest
import torch
from helpers import image

from ccpl_core import Stylizer, stages
from ccpl_core.errors import OutOfMemory
from ccpl_core.modes import ART
from ccpl_core.planner import MIN_TILE, MemoryPlanner


def test_stages_compose_to_the_plain_network(art_net):
    st = Stylizer(art_net)
    content, style = image("astronaut")[..., :100, :124], image("hubble")
    feat = st.encode(content)
    assert feat.shape == (1, 512, 13, 16)  # 1/8, rounded up
    out = st.decode(st.fuse(feat, st.style_code(style)), (100, 124))
    with torch.no_grad():
        plain = art_net(content, style)
    assert torch.allclose(out, plain, atol=1e-4)
    # small tiles in both stages give the same pixels
    tiled = st.decode(st.fuse(st.encode(content, tile=48), st.style_code(style)), (100, 124), 48)
    assert torch.allclose(tiled, out, atol=1e-4)
    # alpha 0 keeps the content features: the decoder's reconstruction
    recon = st.decode(st.fuse(feat, st.style_code(style), alpha=0.0), (100, 124))
    assert torch.allclose(recon, st.decode(feat.float(), (100, 124)), atol=1e-5)


@pytest.mark.parametrize("net_name", ["art_net", "photo_net"])
def test_decode_head_then_tail_equals_decode(net_name, request, monkeypatch):
    st = Stylizer(request.getfixturevalue(net_name))
    batch = torch.cat([image("astronaut")[..., :100, :124], image("chelsea")[..., :100, :124]])
    size = (100, 124)
    fused = st.fuse(st.encode(batch), st.style_code(image("hubble")))
    plain = st.decode(fused, size)
    act = st.decode_head(fused, size)
    assert act.shape[1:] == (64, -(-100 // st.stride) * st.stride, -(-124 // st.stride) * st.stride)
    assert torch.allclose(st.decode_tail(act, size), plain, atol=1e-5)
    # both halves in small tiles, and the tail capped below the network's tile
    tiled = st.decode_tail(st.decode_head(fused, size, tile=48), size, tile=48)
    assert torch.allclose(tiled, plain, atol=1e-4)
    monkeypatch.setattr(stages, "TAIL_TILE", 40)
    assert torch.allclose(st.decode_tail(act, size), plain, atol=1e-5)
    # the activations are what gets painted
    assert not torch.allclose(st.decode_tail(act * 0.5, size), plain, atol=1e-2)


def _planner(budget: int) -> MemoryPlanner:
    return MemoryPlanner(torch.device("cpu"), torch.float32, ART, budget)


def test_planner_halves_the_chunk_then_the_tile_and_returns_every_image_in_order():
    planner = _planner(10**12)  # everything fits at once...
    calls = []

    def stage(part: slice, tile: int) -> list[int]:
        calls.append((part.start, part.stop, tile))
        if part.stop - part.start > 1 or tile > 300:  # ...until the device says otherwise
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 GiB")
        return list(range(part.start, part.stop))

    results = planner.run(stage, 3, 600, 1000)
    assert [r for part in results for r in part] == [0, 1, 2]
    assert calls[0] == (0, 3, 1000)  # the whole batch untiled first
    assert (0, 1, 1000) in calls and (0, 1, 496) in calls and (0, 1, 248) in calls
    assert calls[-1] == (2, 3, 248)  # the smaller tile is kept for the rest


def test_planner_gives_up_below_the_smallest_tile_and_passes_other_errors():
    planner = _planner(10**12)
    tiles = []

    def oom(part: slice, tile: int):
        tiles.append(tile)
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 GB")

    with pytest.raises(OutOfMemory, match="ran out of memory"):
        planner.run(oom, 1, 600, 1000)
    assert min(tiles) >= MIN_TILE and len(tiles) > 2
    calls = []

    def broken(part: slice, tile: int):
        calls.append(tile)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        planner.run(broken, 4, 64, 64)
    assert len(calls) == 1  # not retried
