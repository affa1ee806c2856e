"""The WCT share of the fusion: the closed-form transform, its statistics, and its use in
stylisation and video."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import image

from ccpl_core import InputError, Stylizer
from ccpl_core.models import ContentStats, StyleCode, whitening
from ccpl_core.stages import FeatureMoments
from ccpl_core.video.engine import ClipStylizer, VideoOptions


@pytest.fixture(scope="module")
def st(art_net):
    return Stylizer(art_net, device="cpu", precision="fp32")


def _features(seed: int, c: int = 12, h: int = 20, w: int = 24, scale: float = 1.0):
    """Correlated positive-ish features [1, C, H, W] (a random mixing of channels)."""
    gen = torch.Generator().manual_seed(seed)
    mixing = torch.randn(c, c, generator=gen) * scale
    raw = torch.randn(1, c, h * w, generator=gen)
    return (mixing @ raw + torch.rand(c, 1, generator=gen) * 3).view(1, c, h, w)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


# --------------------------------------------------------------------------- the transform
def test_covariance_is_numpys():
    f = _features(0)
    expected = np.cov(f[0].flatten(1).double().numpy())
    assert np.allclose(whitening.covariance(f)[0].numpy(), expected, rtol=1e-4, atol=1e-4)


def test_symmetric_powers_are_roots_and_inverse_roots():
    cov = whitening.covariance(_features(1))
    root = whitening.symmetric_power(cov, 0.5).double()
    inverse_root = whitening.symmetric_power(cov, -0.5).double()
    assert _relative(root @ root, cov) < 1e-4
    assert _relative(inverse_root @ cov @ inverse_root, torch.eye(cov.shape[-1])[None]) < 1e-4


def test_unused_directions_are_dropped_not_blown_up():
    f = _features(2, c=8)
    f[:, 3] = 0.5  # a constant channel: zero variance
    inverse_root = whitening.symmetric_power(whitening.covariance(f), -0.5)
    assert torch.isfinite(inverse_root).all()
    assert inverse_root[0, 3].abs().max() < 1e-3  # nothing is amplified along it
    assert inverse_root.abs().max() < 1e3


def test_full_share_gives_the_style_mean_and_covariance():
    content, style = _features(3), _features(4, scale=2.0)
    stats = ContentStats.of(content, covariance=True)
    whiten = whitening.symmetric_power(stats.covariance, -0.5)
    style_mean = style.mean(dim=(2, 3), keepdim=True)
    out = torch.zeros_like(content)
    args = (stats.mean, whiten, whitening.colouring(style), style_mean)
    whitening.whiten_colour_into(out, content, 1.0, *args)
    assert _relative(whitening.covariance(out), whitening.covariance(style)) < 1e-3
    assert _relative(out.mean(dim=(2, 3), keepdim=True), style_mean) < 1e-4
    # share 0 leaves the fused features alone; a share in between is the straight line
    base = torch.randn_like(content)
    untouched = whitening.whiten_colour_into(base.clone(), content, 0.0, *args)
    assert torch.equal(untouched, base)
    half = whitening.whiten_colour_into(base.clone(), content, 0.5, *args)
    assert torch.allclose(half, (base + out) / 2, atol=1e-4)


def test_row_bands_give_the_whole_result(monkeypatch):
    content, style = _features(5, h=30, w=7), _features(6)
    stats = ContentStats.of(content, covariance=True)
    args = (
        stats.mean,
        whitening.symmetric_power(stats.covariance, -0.5),
        whitening.colouring(style),
        style.mean(dim=(2, 3), keepdim=True),
    )
    whole = whitening.whiten_colour_into(torch.zeros_like(content), content, 0.7, *args)
    monkeypatch.setattr(whitening, "CHUNK", 10)  # bands of one row
    banded = whitening.whiten_colour_into(torch.zeros_like(content), content, 0.7, *args)
    layout = content.contiguous(memory_format=torch.channels_last)
    strided = torch.zeros_like(layout)
    whitening.whiten_colour_into(strided, layout, 0.7, *args)
    assert torch.allclose(whole, banded, atol=1e-5)
    assert torch.allclose(whole, strided, atol=1e-5)


def test_moments_over_parts_give_the_whole_covariance():
    f = _features(7, h=16, w=16)
    moments = FeatureMoments(covariance=True)
    moments.add(f[..., :7, :])
    moments.add(f[..., 7:, :])
    whole = ContentStats.of(f, covariance=True)
    parts = moments.stats()
    assert _relative(parts.covariance, whole.covariance) < 1e-4
    assert torch.allclose(parts.mean, whole.mean, atol=1e-5)
    plain = FeatureMoments()
    plain.add(f)
    assert plain.stats().covariance is None  # only gathered when asked for


def test_blended_codes_fuse_to_the_blend_of_the_fused(st):
    content = st.encode(image("astronaut", 96))
    a = st.style_code(image("hubble", 96))
    b = st.style_code(image("rocket", 96))
    stats = ContentStats.of(content, covariance=True)
    blended = st.fuse(content, StyleCode.blend([a, b], [0.3, 0.7]), stats, wct=0.6)
    apart = 0.3 * st.fuse(content, a, stats, wct=0.6) + 0.7 * st.fuse(content, b, stats, wct=0.6)
    assert torch.allclose(blended, apart, atol=1e-4)


def test_fuse_without_a_covariance_says_so(st):
    content = st.encode(image("astronaut", 64))
    code = st.style_code(image("hubble", 64))
    with pytest.raises(ValueError, match="covariance"):
        st.fuse(content, code, ContentStats.of(content), wct=0.5)


# ----------------------------------------------------------------------- in stylisation
def test_wct_brings_the_fused_covariance_toward_the_style(st):
    content = st.encode(image("astronaut", 256))
    style = image("hubble", 256)
    code, target = st.style_code(style), whitening.covariance(st.encode(style))
    errors = [
        _relative(whitening.covariance(st.fuse(content, code, wct=share)), target)
        for share in (0.0, 0.5, 1.0)
    ]
    assert errors[0] > errors[1] > errors[2]


def test_default_wct_differs_from_none_and_tiles_exactly(st, style):
    x = image("astronaut", 160)
    default = st.stylize(x, style, tile=0)
    assert not torch.allclose(default, st.stylize(x, style, tile=0, wct=0))
    assert (default - st.stylize(x, style, tile=64)).abs().max() < 1e-3


def test_colour_match_and_alpha_zero_with_wct(st, content, style):
    matched = st.stylize(content, style, preserve_color="match", wct=1)
    assert not torch.allclose(matched, st.stylize(content, style, preserve_color="match", wct=0))
    assert torch.equal(
        st.stylize(content, style, alpha=0, palette=0, wct=0),
        st.stylize(content, style, alpha=0, palette=0, wct=1),
    )


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_bad_wct_is_one_clear_error(st, content, style, bad):
    with pytest.raises(InputError, match="wct"):
        st.stylize(content, style, wct=bad)
    with pytest.raises(InputError, match="wct"):
        VideoOptions(wct=bad).validate()


# ------------------------------------------------------------------------------ in video
@pytest.mark.parametrize("statistics", ["per-frame", "clip", "running"])
def test_video_frames_take_the_wct_share(st, style, statistics):
    frames = torch.cat([image("astronaut", 96), image("astronaut", 96).flip(-1)])
    outs = {}
    for share in (0.0, 1.0):
        options = VideoOptions(wct=share, feature_blend=0, statistics=statistics)
        stats = st.content_statistics(frames) if statistics == "clip" else None
        clip = ClipStylizer(st.prepare_style(style), options)
        outs[share] = clip(st, frames, content_stats=stats)
    assert not torch.allclose(outs[0.0], outs[1.0])
    if statistics == "per-frame":
        single = st.stylize(frames[:1], style, wct=1)
        assert (outs[1.0][:1] - single).abs().max() < 2e-3


def test_statistics_without_a_covariance_are_one_clear_error(st, content, style):
    stats = ContentStats.of(st.encode(content))
    with pytest.raises(InputError, match="content_stats: no feature covariance"):
        st.stylize(content, style, content_stats=stats)
    assert st.stylize(content, style, content_stats=stats, wct=0).shape[-2:] == content.shape[-2:]
    clip = ClipStylizer(st.prepare_style(style), VideoOptions(statistics="clip"))
    with pytest.raises(InputError, match="content_stats: no feature covariance"):
        clip(st, content, content_stats=stats)


def test_statistics_are_decomposed_once_however_often_they_are_used(st, monkeypatch):
    content = st.encode(torch.cat([image("astronaut", 64)] * 2))
    code = st.style_code(image("hubble", 64))
    stats = ContentStats.of(content, covariance=True)
    calls = []
    real = whitening.symmetric_power
    monkeypatch.setattr(whitening, "symmetric_power", lambda *a: calls.append(1) or real(*a))
    first = st.fuse(content, code, stats, wct=0.5)
    again = st.fuse(content, code, stats, wct=0.5)  # e.g. the next chunk of a clip
    assert len(calls) == 1 and torch.equal(first, again)
