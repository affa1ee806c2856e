"""The photo models' finish: a colour-guided filter with the content photo as the guide."""

from __future__ import annotations

import pytest
import torch
from helpers import image

from ccpl_core import edges, pipeline
from ccpl_core.edges import box, content_edges, guided_filter
from ccpl_core.modes import ART, PHOTO
from ccpl_core.pipeline import Stylizer


def naive_box(x: torch.Tensor, r: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    out = torch.empty_like(x)
    for i in range(h):
        for j in range(w):
            win = x[..., max(0, i - r) : i + r + 1, max(0, j - r) : j + r + 1]
            out[..., i, j] = win.mean(dim=(-2, -1))
    return out


@pytest.mark.parametrize("r", [1, 3, 20])
def test_box_is_the_window_mean_clipped_at_the_borders(r):
    x = torch.rand(2, 3, 17, 23, dtype=torch.float64)
    assert torch.allclose(box(x, r), naive_box(x, r), atol=1e-12)


def linear_in(guide: torch.Tensor) -> torch.Tensor:
    """A picture that is one affine function of the guide's colours everywhere."""
    mix = torch.tensor([[0.5, 0.2, 0.1], [-0.3, 0.6, 0.2], [0.1, -0.1, 0.4]])
    return torch.einsum("oc,bchw->bohw", mix, guide) + torch.tensor([0.1, 0.3, 0.2]).view(
        1, 3, 1, 1
    )


@pytest.mark.parametrize("side", [96, 1100])  # whole, and on a coarse copy (over 512^2 pixels)
def test_a_function_of_the_guides_colours_is_kept(side):
    guide = image("astronaut", side)
    src = linear_in(guide)
    out = guided_filter(guide, src, radius=side // 8, eps=1e-7)
    assert out.shape == src.shape
    assert (out - src).abs().max() < 0.02
    assert (out - src).abs().mean() < 2e-3


def test_the_guides_edge_replaces_a_halo():
    """A result whose step edge is blurred and ringed (a decoder's halo) gets the guide's
    sharp edge back, with the result's colours on both sides."""
    h, w = 64, 64
    guide = torch.zeros(1, 3, h, w)
    guide[..., w // 2 :] = 1.0
    ramp = torch.linspace(-1, 1, w).view(1, 1, 1, w)
    soft = torch.sigmoid(ramp * 8)  # a blurred edge ...
    halo = 0.25 * torch.exp(-((ramp * 10) ** 2)) * torch.sign(ramp)  # ... with over/undershoot
    src = (0.2 + 0.5 * soft + halo).expand(1, 3, h, w).clone()
    src[:, 1] *= 0.5  # colours of the result, not of the guide
    out = guided_filter(guide, src, radius=8, eps=1e-4)
    left, right = out[..., : w // 2 - 1], out[..., w // 2 + 1 :]
    # flat on each side (the halo is gone), and a step where the guide steps
    assert left.std(dim=-1).max() < 0.03 and right.std(dim=-1).max() < 0.03
    jump = out[..., w // 2] - out[..., w // 2 - 1]
    assert (jump[:, 0] > 0.3).all() and (jump[:, 1] > 0.15).all()
    # the result's colours: green half the red on both sides
    assert torch.allclose(out[:, 1], 0.5 * out[:, 0], atol=0.03)


def test_only_photo_models_redraw_along_the_content(monkeypatch, art_net, photo_net, style):
    assert PHOTO.content_edges and not ART.content_edges
    x = image("astronaut", 96)
    calls = []

    def spy(result, content):
        calls.append((result.clone(), content.clone()))
        return content_edges(result, content)

    monkeypatch.setattr(pipeline, "content_edges", spy)
    out = Stylizer(photo_net, device="cpu", precision="fp32").stylize(x, style, palette=0.0)
    assert len(calls) == 1
    raw, guide = calls[0]
    assert torch.equal(guide, x)
    assert torch.allclose(out, content_edges(raw, x), atol=1e-6)
    assert not torch.allclose(out, raw.clamp(0, 1), atol=1e-2)  # the step changed the picture
    Stylizer(art_net, device="cpu", precision="fp32").stylize(x, style)
    assert len(calls) == 1  # art models keep the decoder's picture


def test_radius_follows_the_picture_size(monkeypatch):
    seen = []
    real = edges.guided_filter
    monkeypatch.setattr(
        edges,
        "guided_filter",
        lambda g, s, radius, eps=edges.EPS: seen.append(radius) or real(g, s, radius, eps),
    )
    for h, w in ((96, 128), (384, 512), (40, 30)):
        x = torch.rand(1, 3, h, w)
        content_edges(x, x)
    assert seen == [12, 48, 4]


def test_the_coarse_coefficients_match_the_exact_filter(monkeypatch):
    """Coefficients from a smaller copy (the fast guided filter) against the whole-size ones,
    on a photo and a picture that is no function of it (a blurred, recoloured, noisy copy)."""
    guide = image("chelsea", 384)
    torch.manual_seed(0)
    src = torch.nn.functional.avg_pool2d(guide.roll(1, dims=1), 9, stride=1, padding=4)
    src = (src + 0.05 * torch.randn_like(src)).clamp(0, 1)
    radius = 48
    fast = guided_filter(guide, src, radius)
    monkeypatch.setattr(edges, "COARSE_RADIUS", 10**6)
    exact = guided_filter(guide, src, radius)
    diff = (fast - exact).abs() * 255
    assert diff.mean() < 1.0 and diff.flatten().quantile(0.999) < 8, diff.max()
    assert (fast - src).abs().mean() * 255 > 5  # and the filter did change the picture
