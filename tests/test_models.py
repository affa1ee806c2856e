"""Network structure: official key layout, shapes, and SCT against a straightforward formula."""

from __future__ import annotations

import pytest
import torch

from ccpl_core.models import SCT, ContentStats, Decoder, SCTNet, StyleCode, VGGEncoder
from ccpl_core.models.untrained import random_sctnet

OFFICIAL_VGG_CONVS = [0, 2, 5, 9, 12, 16, 19, 22, 25, 29]
OFFICIAL_DECODER_CONVS = [1, 5, 8, 11, 14, 18, 21, 25, 28]


def _conv_indices(module):
    return sorted({int(k.split(".")[0]) for k in module.state_dict()})


def test_encoder_keys_match_official_layout():
    assert _conv_indices(VGGEncoder("art")) == OFFICIAL_VGG_CONVS
    assert _conv_indices(VGGEncoder("photo")) == OFFICIAL_VGG_CONVS[:6]


def test_decoder_keys_match_official_layout():
    assert _conv_indices(Decoder("art")) == OFFICIAL_DECODER_CONVS
    # photo uses children[10:] of the full decoder and keeps the original indices
    assert _conv_indices(Decoder("photo")) == OFFICIAL_DECODER_CONVS[3:]


def test_sct_keys_and_parameter_counts():
    art, photo = SCT("art").state_dict(), SCT("photo").state_dict()
    assert {k.rsplit(".", 1)[0] for k in art} == {
        "cnet.0",
        "cnet.2",
        "cnet.4",
        "snet.0",
        "snet.2",
        "snet.4",
        "uncompress",
    }
    assert {k.rsplit(".", 1)[0] for k in photo} == {
        "cnet.0",
        "cnet.2",
        "snet.0",
        "snet.2",
        "uncompress",
    }
    assert tuple(art["snet.0.weight"].shape) == (256, 512, 3, 3)
    n_dec = sum(p.numel() for p in Decoder("art").parameters())
    assert 3.4e6 < n_dec < 3.6e6


@pytest.mark.parametrize("mode,stride,channels", [("art", 8, 512), ("photo", 4, 256)])
def test_shapes_any_size(mode, stride, channels):
    net = random_sctnet(mode, seed=0)
    x = torch.rand(2, 3, 37, 61)
    with torch.no_grad():
        f = net.encoder(x)
        assert f.shape == (2, channels, -(-37 // stride), -(-61 // stride))
        y = net(x, torch.rand(2, 3, 48, 48))
    assert y.shape == x.shape


def test_encoder_taps_shapes():
    enc = VGGEncoder("art")
    taps = enc.taps(torch.rand(1, 3, 64, 64))
    assert [t.shape[1] for t in taps] == [64, 128, 256, 512]
    assert [t.shape[-1] for t in taps] == [64, 32, 16, 8]


def _reference_sct(sct: SCT, cf: torch.Tensor, sf: torch.Tensor) -> torch.Tensor:
    """CCPL's SCT written out directly with explicit loops over the batch, in float64."""
    sct = sct.double()
    outs = []
    for b in range(cf.shape[0]):
        c = cf[b : b + 1].double()
        s = sf[b : b + 1].double()
        flat = c.flatten(2)
        mean = flat.mean(-1, keepdim=True)
        std = torch.sqrt(flat.var(-1, unbiased=True, keepdim=True) + 1e-5)
        cn = ((flat - mean) / std).view_as(c)
        smean = s.flatten(2).mean(-1)[..., None, None]
        cc = sct.cnet(cn)[0].flatten(1)  # 32 x HW
        ss = sct.snet(s - smean)[0].flatten(1)  # 32 x hw
        cov = ss @ ss.T / ss.shape[1]
        g = (cov @ cc).view(1, 32, *c.shape[-2:])
        outs.append(sct.uncompress(g) + smean)
    return torch.cat(outs)


@pytest.mark.parametrize("mode,ch", [("art", 512), ("photo", 256)])
def test_sct_matches_reference_formula(mode, ch):
    torch.manual_seed(0)
    net = random_sctnet(mode, seed=3)
    cf = torch.rand(2, ch, 9, 7) * 3
    sf = torch.rand(2, ch, 8, 6) * 2
    ours = net.sct(cf, sf)
    ref = _reference_sct(net.sct, cf, sf)
    assert ours.dtype == torch.float32
    assert torch.allclose(ours.double(), ref, rtol=1e-4, atol=1e-4)


def test_style_code_blend_equals_feature_blend():
    net = random_sctnet("art", seed=4)
    cf = torch.rand(1, 512, 6, 6)
    s1, s2 = torch.rand(1, 512, 7, 7), torch.rand(1, 512, 9, 8) * 2
    c1, c2 = net.sct.style_code(s1), net.sct.style_code(s2)
    blended = net.sct.fuse(cf, StyleCode.blend([c1, c2], [0.3, 0.7]))
    separate = 0.3 * net.sct.fuse(cf, c1) + 0.7 * net.sct.fuse(cf, c2)
    assert torch.allclose(blended, separate, atol=1e-4, rtol=1e-4)


def test_content_stats_from_moments_equal_direct():
    f = torch.rand(2, 8, 5, 7) * 4
    flat = f.double().flatten(2)
    direct = ContentStats.of(f)
    moments = ContentStats.from_moments(35, flat.sum(-1), (flat * flat).sum(-1))
    assert torch.allclose(direct.mean, moments.mean, atol=1e-6)
    assert torch.allclose(direct.std, moments.std, atol=1e-5)


def test_sct_runs_in_fp32_under_autocast():
    net = random_sctnet("art", seed=5)
    cf, sf = torch.rand(1, 512, 6, 6), torch.rand(1, 512, 6, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net.sct(cf.bfloat16(), sf.bfloat16())
    assert out.dtype == torch.float32
    assert torch.allclose(out, net.sct(cf.bfloat16().float(), sf.bfloat16().float()), atol=1e-5)


def test_too_small_style_feature_rejected():
    with pytest.raises(ValueError, match="at least 5x5"):
        SCT("art").style_code(torch.rand(1, 512, 4, 9))


def test_min_style_size_in_pixels():
    art, photo = SCTNet("art"), SCTNet("photo")
    assert art.min_style_size == 33 and photo.min_style_size == 9
    with torch.no_grad():
        art(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 33, 33))  # smallest style that works
        with pytest.raises(ValueError):
            art(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 32, 33))


def test_bad_mode_rejected():
    with pytest.raises(ValueError, match="art"):
        SCTNet("pho")
