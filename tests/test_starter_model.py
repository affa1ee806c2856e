"""The shipped starter model: present, verified, and really stylising (thresholds a random
decoder fails), offline, through the default path the CLI and the nodes use."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from helpers import image

from ccpl_core import Stylizer, load_image, load_model, resize_short_side
from ccpl_core.losses import mean_std
from ccpl_core.models.init import init_trainable_
from ccpl_core.weights.files import sha256_file
from ccpl_core.weights.manifest import REPO_ROOT, load_manifest

#: The style must get this much closer (statistics distance out/content) ...
STYLE_RATIO_MAX = 0.5
#: ... while the output keeps the content's structure (edge correlation at 64 px).
EDGE_CORR_MIN = 0.35


@pytest.fixture(scope="module")
def starter():
    return load_model()  # the manifest default, bundled: no network


@pytest.fixture(scope="module")
def style():
    return resize_short_side(load_image(REPO_ROOT / "examples/style/starry_night.jpg")[0], 256)


def style_gap(x, s, encoder) -> float:
    with torch.no_grad():
        total = 0.0
        for a, b in zip(encoder.taps(x), encoder.taps(s), strict=True):
            (ma, sa), (mb, sb) = mean_std(a), mean_std(b)
            total += float(((ma - mb) ** 2).mean() + ((sa - sb) ** 2).mean())
    return total


def edge_correlation(a: torch.Tensor, b: torch.Tensor, size: int = 64) -> float:
    """Correlation of Sobel edge magnitudes of two images at a coarse scale (object outlines)."""

    def edges(x):
        x = F.interpolate(x, size=(size, size), mode="area")
        g = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None]
        k = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]).view(1, 1, 3, 3)
        return F.conv2d(g, k, padding=1) ** 2 + F.conv2d(g, k.transpose(2, 3), padding=1) ** 2

    ea, eb = edges(a).flatten(), edges(b).flatten()
    ea, eb = ea - ea.mean(), eb - eb.mean()
    return float((ea * eb).sum() / (ea.norm() * eb.norm()))


def test_starter_is_the_verified_bundled_default(starter):
    man = load_manifest()
    name = man.default_model("art")
    entry = man.get(name)
    assert starter.info["name"] == name and starter.mode == "art"
    total = 0
    for e in (man.get(r) for r in (*entry.requires, name)):
        for spec in e.files:
            path = REPO_ROOT / e.bundled / spec.name
            assert sha256_file(path) == spec.sha256
            total += path.stat().st_size
    assert total <= 20 * 2**20


def _random_like(net, seed):
    rnd = copy.deepcopy(net)
    init_trainable_(rnd.decoder, seed)
    init_trainable_(rnd.sct, seed + 1)
    return rnd


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "rocket"])
def test_starter_moves_style_and_keeps_structure(starter, style, name):
    content = image(name, 256)
    out = Stylizer(starter).stylize(content, style)
    base = style_gap(content, style, starter.encoder)
    ratio = style_gap(out, style, starter.encoder) / base
    corr = edge_correlation(out, content)
    assert ratio < STYLE_RATIO_MAX, ratio
    assert corr > EDGE_CORR_MIN, corr
    # the same checks fail for an untrained decoder + SCT
    for seed in (1, 7):
        rnd = Stylizer(_random_like(starter, seed)).stylize(content, style)
        r_ratio = style_gap(rnd, style, starter.encoder) / base
        assert r_ratio >= STYLE_RATIO_MAX or edge_correlation(rnd, content) <= EDGE_CORR_MIN
