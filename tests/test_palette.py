"""The palette step: statistics, the transport map, and how stylisation and video use it."""

from __future__ import annotations

import pytest
import torch
from helpers import image

from ccpl_core import InputError, Stylizer
from ccpl_core.palette import MAX_GAIN, MAX_PIXELS, Palette, toward, transport_map
from ccpl_core.video.engine import ClipStylizer, VideoOptions


@pytest.fixture(scope="module")
def st(art_net):
    return Stylizer(art_net, device="cpu", precision="fp32")


def _numpy_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = x.reshape(3, -1).double()
    return flat.mean(dim=1), torch.cov(flat, correction=0)


def _mean_colour_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Distance between the mean colours of two images or batches."""
    mean = lambda x: x.reshape(-1, 3, *x.shape[-2:]).mean(dim=(0, 2, 3))  # noqa: E731
    return float((mean(a) - mean(b)).norm())


# ----------------------------------------------------------------------------- statistics
def test_statistics_are_the_pixels_mean_and_covariance():
    x = image("rocket", 64)[0]
    p = Palette.of(x)
    mean, cov = _numpy_stats(x)
    assert torch.allclose(p.mean, mean, atol=1e-9) and torch.allclose(p.cov, cov, atol=1e-9)


def test_weighted_statistics_ignore_pixels_of_weight_zero():
    x = image("chelsea", 64)[0].clone()
    weight = torch.zeros(x.shape[-2:])
    weight[:, :32] = 1
    x[:, :, 32:] = torch.tensor([1.0, 0.0, 0.0])[:, None, None]  # red where the weight is 0
    p = Palette.of(x, weight)
    mean, cov = _numpy_stats(x[:, :, :32])
    assert torch.allclose(p.mean, mean, atol=1e-9) and torch.allclose(p.cov, cov, atol=1e-9)
    assert Palette.of(x, torch.zeros(x.shape[-2:])) is None


def test_large_images_are_measured_on_a_subsample_close_to_the_whole():
    x = torch.nn.functional.interpolate(image("astronaut", 64), size=(1500, 1500), mode="bilinear")
    assert MAX_PIXELS < 1500 * 1500
    p = Palette.of(x)
    mean, cov = _numpy_stats(x[0])
    assert torch.allclose(p.mean, mean, atol=2e-3) and torch.allclose(p.cov, cov, atol=2e-3)


def test_mixture_is_the_palette_of_the_pooled_pixels():
    a, b = image("rocket", 48)[0], image("hubble", 48)[0]
    pooled = Palette.of(torch.cat([a, b], dim=2))
    mixed = Palette.mixture([Palette.of(a), Palette.of(b)], [0.5, 0.5])
    assert torch.allclose(mixed.mean, pooled.mean, atol=1e-9)
    assert torch.allclose(mixed.cov, pooled.cov, atol=1e-9)


# ------------------------------------------------------------------------------ the map
def test_share_zero_is_the_image_and_share_one_the_target_statistics():
    source, target = image("chelsea", 64)[0], image("hubble", 64)[0]
    goal = Palette.of(target)
    assert torch.equal(toward(source, goal, 0.0), source)
    moved = toward(source, goal, 1.0)
    got = Palette.of(moved)
    assert torch.allclose(got.mean, goal.mean, atol=1e-4)
    assert torch.allclose(got.cov, goal.cov, atol=1e-3)
    half = Palette.of(toward(source, goal, 0.5))
    assert torch.allclose(half.mean, (Palette.of(source).mean + goal.mean) / 2, atol=1e-4)


def test_map_to_the_same_palette_is_the_identity_and_symmetric():
    p = Palette.of(image("rocket", 64)[0])
    t = transport_map(p, p)
    assert torch.allclose(t, torch.eye(3, dtype=t.dtype), atol=1e-6)
    q = Palette.of(image("hubble", 64)[0])
    t = transport_map(p, q)
    assert torch.allclose(t, t.T, atol=1e-12)


def test_flat_image_is_not_blown_up():
    flat = torch.full((3, 32, 32), 0.5) + 1e-3 * torch.randn(3, 32, 32)
    moved = toward(flat, Palette.of(image("hubble", 64)[0]), 1.0)
    assert torch.isfinite(moved).all()
    assert float(moved.std(dim=(1, 2)).max()) <= MAX_GAIN * float(flat.std(dim=(1, 2)).max()) + 1e-6


# ----------------------------------------------------------------------- in stylisation
def test_palette_moves_the_result_toward_the_style(st, content, style):
    gaps = [_mean_colour_gap(st.stylize(content, style, palette=s), style) for s in (0, 0.5, 1)]
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 0.25 * gaps[0]


def test_default_palette_differs_from_none(st, content, style):
    assert not torch.allclose(st.stylize(content, style), st.stylize(content, style, palette=0))


def test_palette_is_off_when_colours_are_preserved_or_alpha_is_zero(st, content, style):
    for kwargs in ({"preserve_color": "luminance"}, {"preserve_color": "match"}, {"alpha": 0}):
        a = st.stylize(content, style, palette=0, **kwargs)
        assert torch.equal(a, st.stylize(content, style, palette=1, **kwargs)), kwargs


def test_blended_styles_aim_at_the_pooled_palette(st, content):
    a, b = image("hubble", 64), image("rocket", 64)
    out = st.stylize(content, [a, b], palette=1)
    pooled = Palette.mixture([Palette.of(a), Palette.of(b)], [0.5, 0.5])
    assert torch.allclose(out.mean(dim=(0, 2, 3)).double(), pooled.mean, atol=0.03)


def test_tiled_equals_untiled_with_palette(st, style):
    x = image("astronaut", 160)
    whole = st.stylize(x, style, palette=1, tile=0)
    tiled = st.stylize(x, style, palette=1, tile=64)
    assert (whole - tiled).abs().max() < 1e-3


def test_mask_measures_and_moves_each_region_by_its_own_style(st, content):
    style_in, style_out = image("hubble", 64), image("rocket", 64)
    h, w = content.shape[-2:]
    mask = torch.zeros(h, w)
    mask[:, : w // 2] = 1
    kwargs = {"mask": mask, "outside": style_out, "feather": 0}
    before = st.stylize(content, style_in, palette=0, **kwargs)
    after = st.stylize(content, style_in, palette=1, **kwargs)
    left, right = slice(0, w // 2), slice(w // 2, w)
    for region, target in ((left, style_in), (right, style_out)):
        assert _mean_colour_gap(after[..., region], target) < _mean_colour_gap(
            before[..., region], target
        )
    kept = st.stylize(content, style_in, palette=1, mask=mask, feather=0)
    assert torch.allclose(kept[..., right], content[..., right], atol=1e-6)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_bad_palette_is_one_clear_error(st, content, style, bad):
    with pytest.raises(InputError, match="palette"):
        st.stylize(content, style, palette=bad)
    with pytest.raises(InputError, match="palette"):
        VideoOptions(palette=bad).validate()


# ------------------------------------------------------------------------------ in video
def test_video_frames_take_the_palette(st, style):
    frames = torch.cat([image("astronaut", 64)] * 2)
    outs = []
    for share in (0.0, 1.0):
        clip = ClipStylizer(st.prepare_style(style), VideoOptions(palette=share, feature_blend=0))
        outs.append(clip(st, frames))
    assert _mean_colour_gap(outs[1], style) < 0.5 * _mean_colour_gap(outs[0], style)
    single = st.stylize(frames[:1], style, palette=1)
    assert torch.allclose(outs[1][:1], single, atol=1e-4)
