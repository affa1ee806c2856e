"""Picture-quality figures: each one must move the way the eye would, on tiny images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import image

from ccpl_core.quality import (
    edge_correlation,
    gram_distance,
    palette_distance,
    retrieval_accuracy,
)


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    return image("astronaut", 64)[0]


@pytest.fixture(scope="module")
def other() -> torch.Tensor:
    return image("hubble", 48)[0]


def test_palette_zero_for_same_pixels_in_any_order(photo):
    assert palette_distance(photo, photo) == pytest.approx(0.0, abs=1e-9)
    perm = torch.randperm(64 * 64, generator=torch.Generator().manual_seed(0))
    shuffled = photo.reshape(3, -1)[:, perm].reshape(3, 64, 64)
    assert palette_distance(shuffled, photo) == pytest.approx(0.0, abs=1e-9)
    # the same pixels twice over (a different pixel count) are the same distribution
    tiled = torch.cat([photo, photo], dim=2)
    assert palette_distance(tiled, photo) < 0.5


def test_palette_grows_with_colour_shift_and_is_symmetric(photo, other):
    shifts = [palette_distance((photo + s).clamp(0, 1), photo) for s in (0.05, 0.1, 0.2)]
    assert 0 < shifts[0] < shifts[1] < shifts[2]
    # a grey shift s moves each projection by s * (d . (1,1,1)): on average s * 255 * sqrt(3) / 2
    assert shifts[1] == pytest.approx(0.1 * 255 * 3**0.5 / 2, rel=0.15)
    ab, ba = palette_distance(photo, other), palette_distance(other, photo)
    assert ab > 5
    assert ab == pytest.approx(ba)


def _feats(seed: int, scale: float = 1.0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [scale * torch.rand(1, c, s, s, generator=gen) for c, s in ((8, 16), (16, 8))]


def test_gram_distance_zero_only_for_same_features():
    a = _feats(0)
    assert gram_distance(a, a) == pytest.approx(0.0, abs=1e-12)
    # a constant offset is removed by centring, a different texture is not
    assert gram_distance([f + 3.0 for f in a], a) == pytest.approx(0.0, abs=1e-9)
    assert gram_distance(_feats(1), a) > 0.01
    assert gram_distance(_feats(0, scale=2.0), a) > 1.0


def test_edge_correlation_tracks_structure(photo):
    assert edge_correlation(photo, photo) == pytest.approx(1.0, abs=1e-9)
    noise = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert abs(edge_correlation(noise, photo)) < 0.15
    blurred = F.avg_pool2d(photo[None], 5, 1, 2, count_include_pad=False)[0]
    assert 0.4 < edge_correlation(blurred, photo) < 0.85
    # an output of another size is compared at the content's size
    big = F.interpolate(photo[None], size=(128, 128), mode="bilinear", align_corners=False)
    assert edge_correlation(big, photo) > 0.8


def _all_pairs(outputs: list[torch.Tensor], styles: list[torch.Tensor]) -> np.ndarray:
    return np.array([[palette_distance(o, s) for s in styles] for o in outputs])


def test_retrieval_perfect_when_outputs_are_their_styles(photo, other):
    styles = [photo, other, 1 - photo, photo.flip(0)]
    texture = np.ones((4, 4)) - np.eye(4)  # texture alone also points at the right style
    pal = _all_pairs(styles, styles)
    assert retrieval_accuracy(pal, texture, [0, 1, 2, 3]) == 1.0
    assert retrieval_accuracy(pal, np.ones((4, 4)), [0, 1, 2, 3]) == 1.0


def test_retrieval_at_chance_when_outputs_are_all_alike(photo, other):
    styles = [photo, other, 1 - photo, photo.flip(0)]
    truth = np.repeat(np.arange(4), 3)  # 3 contents per style
    pal = _all_pairs([photo] * 12, styles)
    tex = np.tile(np.array([[0.5, 1.0, 2.0, 1.5]]), (12, 1))
    assert retrieval_accuracy(pal, tex, truth) == pytest.approx(0.25)


def test_retrieval_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        retrieval_accuracy(np.ones((3, 2)), np.ones((3, 3)), [0, 1, 2])


def test_texture_figure_with_the_bundled_encoder(photo, other):
    from ccpl_core.quality import load_texture_encoder, texture_features

    enc = load_texture_encoder()
    a, b = texture_features(photo, enc), texture_features(other, enc)
    assert [f.shape[1] for f in a] == [64, 128, 256, 512]
    assert gram_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    assert gram_distance(a, b) > 0.1
