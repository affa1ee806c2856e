"""The product's fusion is one function: the model's forward, the stages (images, video) and
training's joint step all fuse through ccpl_core.models.fusion."""

from __future__ import annotations

import torch
from helpers import image, make_trainer

from ccpl_core import Stylizer
from ccpl_core.images import load_image
from ccpl_core.models import fusion
from ccpl_core.training.wct import whiten_colour


def test_forward_with_the_papers_defaults_is_sct_alone(art_net, content, style):
    with torch.no_grad():
        cf, sf = art_net.encoder(content), art_net.encoder(style)
        plain = art_net.decoder(art_net.sct(cf, sf))[..., : content.shape[-2], : content.shape[-1]]
        assert torch.equal(art_net(content, style), plain)


def test_forward_and_stages_fuse_alike(art_net, content, style):
    st = Stylizer(art_net, device="cpu")
    with torch.no_grad():
        feat, code = st.encode(content), st.style_code(style)
        staged = st.fuse(feat, code, alpha=0.7, wct=0.4)
        direct = fusion.fuse(art_net.sct, feat, fusion.style_code(art_net.sct, st.encode(style)),
                             alpha=0.7, wct=0.4)  # fmt: skip
    assert torch.equal(staged, direct)


def test_the_wct_share_is_a_blend_towards_the_closed_form(art_net, content, style):
    """What training's joint step used to compute by hand: lerp(SCT, WCT, share)."""
    with torch.no_grad():
        cf, sf = art_net.encoder(content), art_net.encoder(style)
        code = fusion.style_code(art_net.sct, sf)
        mixed = fusion.fuse(art_net.sct, cf, code, wct=0.3)
        by_hand = torch.lerp(art_net.sct(cf, sf), whiten_colour(cf, sf), 0.3)
    assert torch.allclose(mixed, by_hand, rtol=1e-4, atol=1e-4)


def test_the_joint_step_trains_through_the_wct_share(tmp_path):
    trainer = make_trainer(tmp_path, iterations=1, wct=0.4)
    before = trainer.module.net.sct.cnet[0].weight.clone()
    losses = trainer.step(*trainer.batches[0])
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert not torch.equal(trainer.module.net.sct.cnet[0].weight, before)


def test_validation_pictures_are_the_products(tmp_path):
    trainer = make_trainer(tmp_path, iterations=1)
    pairs = [image("astronaut", 64), image("hubble", 64)]
    trainer.validation = (pairs[0], pairs[1])
    path = trainer.save_validation()
    grid = load_image(path)[0]
    want = Stylizer(trainer.module.net, "cpu", precision="fp32").stylize(pairs[0], pairs[1])
    picture = grid[..., :, -want.shape[-1] :]
    assert torch.allclose(picture, want[0].clamp(0, 1), atol=1 / 255 + 1e-6)
