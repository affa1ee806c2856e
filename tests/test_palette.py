"""The palette step: statistics, the transport map, and how stylisation and video use it."""

from __future__ import annotations

import pytest
import torch
from helpers import image

from ccpl_core import InputError, Stylizer, palette
from ccpl_core.palette import (
    LEVELS,
    MAX_PIXELS,
    ROTATIONS,
    Palette,
    interp,
    toward,
    weighted_quantiles,
)
from ccpl_core.quality import palette_distance
from ccpl_core.video.engine import ClipStylizer, VideoOptions


@pytest.fixture(scope="module")
def st(art_net):
    return Stylizer(art_net, device="cpu", precision="fp32")


def _mean_colour_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Distance between the mean colours of two images or batches."""
    mean = lambda x: x.reshape(-1, 3, *x.shape[-2:]).mean(dim=(0, 2, 3))  # noqa: E731
    return float((mean(a) - mean(b)).norm())


# ----------------------------------------------------------------------------- measuring
def test_palette_is_the_quantiles_along_each_rotation():
    x = image("rocket", 64)[0]
    p = Palette.of(x)
    assert p.quantiles.shape == (len(ROTATIONS), 3, LEVELS)
    levels = torch.linspace(0, 1, LEVELS)
    for r, q in zip(ROTATIONS, p.quantiles, strict=True):
        expected = torch.quantile(r @ x.reshape(3, -1), levels, dim=1).T
        assert (q - expected).abs().max() < 0.01  # up to where between two pixels a level falls


def test_rotations_are_orthonormal_and_fixed():
    for r in ROTATIONS:
        assert torch.allclose(r @ r.T, torch.eye(3), atol=1e-6)
    assert len({tuple(r.flatten().tolist()) for r in ROTATIONS}) == len(ROTATIONS)
    assert Palette.of(image("rocket", 32)).quantiles.equal(
        Palette.of(image("rocket", 32)).quantiles
    )


def test_weighted_quantiles_ignore_weight_zero_and_match_plain_ones():
    values = torch.rand(3, 2000)
    plain = torch.quantile(values, torch.linspace(0, 1, LEVELS), dim=1).T
    weighted = weighted_quantiles(values, torch.full((2000,), 0.5))
    assert (weighted_quantiles(values, None) - weighted).abs().max() < 1e-6
    assert (plain - weighted).abs().max() < 0.01
    junk = torch.cat([values, torch.full((3, 500), 9.0)], dim=1)
    w = torch.cat([torch.ones(2000), torch.zeros(500)])
    assert (weighted_quantiles(junk, w) - weighted).abs().max() < 1e-6


def test_interp_matches_numpy_with_ties_and_outside_values():
    xp = torch.tensor([0.0, 0.2, 0.2, 0.5, 1.0])
    fp = torch.tensor([0.0, 0.1, 0.3, 0.6, 0.9])
    x = torch.tensor([-1.0, 0.0, 0.1, 0.2, 0.35, 0.99, 2.0])
    got = interp(x, xp, fp)
    assert torch.isfinite(got).all()
    assert torch.allclose(got[[0, 1, 2, 4, 5, 6]], torch.tensor([0.0, 0.0, 0.05, 0.45, 0.894, 0.9]))


def test_large_images_are_measured_on_a_subsample_close_to_the_whole():
    x = torch.nn.functional.interpolate(image("astronaut", 64), size=(600, 600), mode="bilinear")
    assert MAX_PIXELS < 600 * 600
    levels = torch.linspace(0, 1, LEVELS)
    whole = torch.quantile(ROTATIONS[0] @ x[0].reshape(3, -1), levels, dim=1).T
    gap = (Palette.of(x).quantiles[0] - whole).abs()
    assert gap.mean() < 0.003 and gap[:, 2:-2].max() < 0.02  # the extremes may be skipped


def test_pooled_palette_is_the_palette_of_the_pooled_pixels():
    a, b = image("rocket", 48)[0], image("hubble", 48)[0]
    pooled = Palette.of(torch.cat([a, b], dim=2)).quantiles
    mixed = Palette.of([a, b], [0.5, 0.5]).quantiles
    assert (mixed - pooled).abs().max() < 0.02
    only_a = Palette.of([a, b], [1.0, 0.0]).quantiles
    assert torch.equal(only_a, Palette.of(a).quantiles)  # a weight-0 style adds nothing


# ------------------------------------------------------------------------------ the map
def test_share_zero_is_the_image_and_share_one_the_target_colours():
    source, target = image("chelsea", 64)[0], image("hubble", 64)[0]
    goal = Palette.of(target)
    assert torch.equal(toward(source, goal, 0.0), source)
    before = palette_distance(source[None], target[None])
    half = palette_distance(toward(source, goal, 0.5)[None].clamp(0, 1), target[None])
    full = palette_distance(toward(source, goal, 1.0)[None].clamp(0, 1), target[None])
    assert before > half > full and full < 0.1 * before


def test_map_to_the_own_palette_changes_little():
    x = image("chelsea", 64)[0]
    moved = toward(x, Palette.of(x), 1.0)
    assert (moved - x).abs().mean() < 0.01


def test_flat_image_stays_finite_and_in_range():
    flat = torch.full((3, 32, 32), 0.5) + 1e-3 * torch.randn(3, 32, 32)
    moved = toward(flat, Palette.of(image("hubble", 64)[0]), 1.0)
    assert torch.isfinite(moved).all() and moved.min() >= -0.01 and moved.max() <= 1.01


def test_chunks_give_the_same_result(monkeypatch):
    x, goal = image("chelsea", 64)[0], Palette.of(image("hubble", 64)[0])
    whole = toward(x, goal, 0.7)
    monkeypatch.setattr(palette, "CHUNK", 1000)
    assert torch.allclose(toward(x, goal, 0.7), whole, atol=1e-6)


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
    # wct=0: the palette mechanics alone (the random test decoder saturates WCT's features)
    out = st.stylize(content, [a, b], palette=1, wct=0)
    pooled = torch.cat([a, b], dim=3)
    alone = st.stylize(content, a, palette=1, wct=0)
    assert palette_distance(out, pooled) < 0.5 * palette_distance(alone, pooled)


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
    assert (outs[1][:1] - single).abs().max() < 2e-3


def test_a_clip_keeps_its_first_frames_colour_map_so_colours_cannot_flicker(st, style):
    """Every frame is moved by the map built from the clip's first frame, across chunks and
    windows, not by a map of its own colours (which changes whenever the frame's colours do)."""
    a, b = image("astronaut", 64), image("hubble", 64)
    frames = torch.cat([a, b, (a * 0.6).clamp(0, 1)])
    opts = {"feature_blend": 0}
    plain = ClipStylizer(st.prepare_style(style), VideoOptions(palette=0, **opts))(st, frames)
    first_map = palette.ColourMap.toward(plain[0], st.prepare_style(style).palette)
    want = torch.stack([first_map.apply(f, 0.8) for f in plain]).clamp(0, 1)
    clip = ClipStylizer(st.prepare_style(style), VideoOptions(palette=0.8, **opts))
    got = torch.cat([clip(st, frames[:1]), clip.to("cpu")(st, frames[1:])])
    assert (got - want).abs().max() < 1e-4
    # a frame's own map differs: with it, the later frames would come out otherwise
    own = [toward(f, st.prepare_style(style).palette, 0.8).clamp(0, 1) for f in plain[1:]]
    assert max(float((o - g).abs().max()) for o, g in zip(own, got[1:], strict=True)) > 0.01
