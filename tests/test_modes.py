"""The mode descriptions match the networks built from them (art: relu4_1, photo: relu3_1)."""

from __future__ import annotations

import pytest
import torch

from ccpl_core.models import SCTNet
from ccpl_core.modes import MODE_NAMES, MODES, get_mode


@pytest.mark.parametrize("name", MODE_NAMES)
def test_network_shapes_follow_the_mode_description(name):
    mode = get_mode(name)
    net = SCTNet(name).eval()
    x = torch.rand(1, 3, 40, 48)
    with torch.no_grad():
        feat = net.encoder(x)
        # the encoder stops at the mode's tap and down-samples by its stride
        assert feat.shape == (1, mode.channels, -(-40 // mode.stride), -(-48 // mode.stride))
        assert len(net.encoder) == mode.encoder_depth
        # the decoder starts at the mode's first child and returns to full resolution
        assert int(next(iter(net.decoder._modules))) == mode.decoder_start
        assert net.decoder(feat).shape[-2:] == (40, 48)
        # SCT takes exactly the minimum style feature map, not one position less
        side = mode.min_style_feature
        net.sct.style_code(torch.rand(1, mode.channels, side, side))
        with pytest.raises(ValueError):
            net.sct.style_code(torch.rand(1, mode.channels, side - 1, side))
    assert net.min_style_size == (side - 1) * mode.stride + 1
    taps = net.encoder.taps(x)
    assert [t.shape[1] for t in taps][-1] == mode.channels


def test_unknown_mode_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match="art, photo"):
        get_mode("sketch")
    with pytest.raises(ValueError, match="art, photo"):
        SCTNet("sketch")
    assert set(MODES) == set(MODE_NAMES) == {"art", "photo"}
