"""Detail blending: the decoder split into head and tail, blending along the flow in channel
groups, and the video option end to end (chunked, and after an out-of-memory error)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import pan_frames, stylize_folder, uniform_motion

from ccpl_core import InputError, Stylizer, load_image
from ccpl_core.models.decoder import DETAIL_CHANNELS
from ccpl_core.video import temporal
from ccpl_core.video.engine import ClipStylizer, VideoOptions
from ccpl_core.video.temporal import blend_along_flow, carry_along_flow
from ccpl_core.weights.manifest import REPO_ROOT


@pytest.mark.parametrize("net_name", ["art_net", "photo_net"])
def test_decoder_head_then_tail_is_the_decoder(net_name, request):
    net = request.getfixturevalue(net_name)
    first_conv = next(m for m in net.decoder if isinstance(m, torch.nn.Conv2d))
    feat = torch.randn(2, first_conv.in_channels, 5, 7)
    with torch.no_grad():
        act = net.decoder.head(feat)
        assert act.shape[1] == DETAIL_CHANNELS
        assert act.shape[-2:] == (5 * net.stride, 7 * net.stride)  # full resolution
        assert torch.allclose(net.decoder.tail(act), net.decoder(feat), atol=1e-5)


def test_blend_along_flow_in_channel_groups_equals_one_group(monkeypatch):
    gen = torch.Generator().manual_seed(3)
    cur, prev = torch.randn(2, 10, 18, 22, generator=gen)
    motion = uniform_motion(18, 22, dx=1.3, dy=-0.4)
    motion.mask[:5] = 0.3
    whole = blend_along_flow(cur, prev, motion, 0.6)
    monkeypatch.setattr(temporal, "BLEND_GROUP_ELEMENTS", 3 * 18 * 22)  # groups of 3 channels
    grouped = blend_along_flow(cur, prev, motion, 0.6)
    assert torch.allclose(whole, grouped, atol=1e-6)
    assert not torch.allclose(whole, cur, atol=1e-2)
    half = blend_along_flow(cur.bfloat16(), prev.bfloat16(), motion, 0.6)
    assert half.dtype == torch.bfloat16 and torch.allclose(half.float(), whole, atol=0.05)


def test_carry_along_flow_in_runs_equals_one_run():
    gen = torch.Generator().manual_seed(4)
    frames = torch.randn(4, 6, 8, 8, generator=gen)
    motions = [None] + [uniform_motion(8, 8, dx=0.5)] * 3
    whole = carry_along_flow(frames, None, motions, 0.5)
    first = carry_along_flow(frames[:1], None, motions[:1], 0.5)
    rest = carry_along_flow(frames[1:], first[-1], motions[1:], 0.5)
    assert torch.allclose(torch.cat([first, rest]), whole)
    assert torch.equal(whole[0], frames[0]) and not torch.allclose(whole[1], frames[1], atol=1e-2)
    with pytest.raises(ValueError, match="motions"):
        carry_along_flow(frames, None, motions[:2], 0.5)


def test_motion_padded_extends_edges():
    m = uniform_motion(16, 24, dx=8.0)
    m.mask[:, -1] = 0.5
    padded = m.padded(4, 6, 8, 8)
    assert padded.back.shape == (8, 8, 2) and padded.mask.shape == (8, 8)
    assert np.allclose(padded.back[..., 0], 2.0)  # 8 px at 24 wide = 2 px at 6 wide
    assert np.allclose(padded.mask[:, 6:], padded.mask[:, 5:6])


def test_detail_blend_chunking_and_out_of_memory_retry(tmp_path, art_net):
    frames = pan_frames(5, h=64, w=80)
    kw = {"statistics": "per-frame", "feature_blend": 0.9, "detail_blend": 0.5}
    one = stylize_folder(art_net, frames, tmp_path, "one", batch=1, **kw)
    four = stylize_folder(art_net, frames, tmp_path, "four", batch=4, **kw)
    feature_only = stylize_folder(
        art_net, frames, tmp_path, "f", batch=4, **{**kw, "detail_blend": 0}
    )
    assert (
        max(np.abs(x.astype(int) - y.astype(int)).max() for x, y in zip(one, four, strict=True))
        <= 1
    )
    # the first frame has nothing to carry: the same picture (two decode paths, so within one
    # level, as uint8 rounding of float sums can differ), while every later frame moves further
    assert np.abs(one[0].astype(int) - feature_only[0].astype(int)).max() <= 1
    assert all(
        np.abs(x.astype(int) - y.astype(int)).max() > 1
        for x, y in zip(one[1:], feature_only[1:], strict=True)
    )

    # out-of-memory errors while encoding the chunk: the planner retries with fewer frames at
    # a time before anything moves on, so the frames come out the same
    st = Stylizer(art_net)
    style = st.prepare_style(load_image(REPO_ROOT / "tests/data/hubble.jpg")[0])
    x = torch.stack([torch.from_numpy(f).permute(2, 0, 1) for f in frames]).float() / 255
    ref = ClipStylizer(style, VideoOptions(**kw))(st, x)
    real, sizes = st.encoder.forward, []

    def flaky(inp):
        sizes.append(inp.shape[0])
        if inp.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 GiB")
        return real(inp)

    st.encoder.forward = flaky
    retried = ClipStylizer(style, VideoOptions(**kw))(st, x)
    assert sizes[0] == len(frames) and max(sizes[1:]) <= 2  # retried in smaller parts
    # within a quarter of an 8-bit level: the palette step's quantile maps move by ~1e-4 with
    # float-level differences between the two paths
    assert torch.allclose(retried, ref, atol=1e-3)


def test_bad_detail_blend_is_rejected():
    with pytest.raises(InputError, match=r"^`detail_blend`: .*between 0 and 1, got .1.5."):
        VideoOptions(detail_blend=1.5).validate()
