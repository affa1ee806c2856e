"""CCPL, content and style losses against straightforward re-implementations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ccpl_core.losses import (
    CCPLLoss,
    content_loss,
    neighbour_differences,
    sample_anchors,
    style_loss,
)
from ccpl_core.models.untrained import random_sctnet
from ccpl_core.modes import get_mode
from ccpl_core.training import TrainConfig, TrainModule

CH = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, "relu4_1": 512}


def _feats(mode, b=2, size=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randn(b, CH[n], size, size, generator=g) for n in get_mode(mode).ccpl_taps}


def reference_ccpl(loss: CCPLLoss, gen, cont, anchors) -> torch.Tensor:
    """The CCPL loss written with explicit loops over images, anchors and directions."""
    total = torch.zeros(())
    dirs = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
    for name in loss.layers:
        g, c = gen[name], cont[name]
        w = g.shape[-1]
        layer_losses = []
        for b in range(g.shape[0]):
            qs, ks = [], []
            for dy, dx in dirs:
                for a in anchors[name].tolist():
                    y, x = divmod(a, w)
                    qs.append(g[b, :, y, x] - g[b, :, y + dy, x + dx])
                    ks.append(c[b, :, y, x] - c[b, :, y + dy, x + dx])
            head = loss.heads[name]
            q = F.normalize(head(torch.stack(qs)), dim=1)
            k = F.normalize(head(torch.stack(ks)), dim=1).detach()
            for i in range(len(qs)):
                pos = (q[i] * k[i]).sum() / loss.tau
                negs = [(q[i] * k[j]).sum() / loss.tau for j in range(len(ks)) if j != i]
                logits = torch.stack([pos, *negs])
                layer_losses.append(-torch.log_softmax(logits, 0)[0])
        total = total + torch.stack(layer_losses).mean()
    return total


@pytest.mark.parametrize("mode", ["art", "photo"])
def test_ccpl_matches_reference(mode):
    torch.manual_seed(0)
    loss = CCPLLoss(mode, num_anchors=5)
    gen, cont = _feats(mode, seed=1), _feats(mode, seed=2)
    gen_rng = torch.Generator().manual_seed(3)
    anchors = {n: sample_anchors(12, 12, 5, gen_rng) for n in loss.layers}
    ours = loss(gen, cont, anchors=anchors)
    ref = reference_ccpl(loss, gen, cont, anchors)
    assert torch.allclose(ours, ref, rtol=1e-4, atol=1e-5)


def test_photo_layer_set():
    assert CCPLLoss("photo").layers == ("relu1_1", "relu2_1", "relu3_1")
    assert CCPLLoss("art").layers == ("relu2_1", "relu3_1", "relu4_1")
    assert set(CCPLLoss("photo").heads) == {"relu1_1", "relu2_1", "relu3_1"}
    assert CCPLLoss("art").heads["relu4_1"][2].out_features == 128


def test_anchors_interior_distinct_and_robust():
    a = sample_anchors(6, 7, 8, torch.Generator().manual_seed(0))
    ys, xs = a // 7, a % 7
    assert len(set(a.tolist())) == 8
    assert ys.min() >= 1 and ys.max() <= 4 and xs.min() >= 1 and xs.max() <= 5
    # fewer interior positions than anchors: all of them, no crash (the authors' sampler fails)
    assert sorted(sample_anchors(4, 4, 8).tolist()) == [5, 6, 9, 10]
    assert sample_anchors(2, 9, 8).numel() == 0


def test_tiny_maps_do_not_crash():
    loss = CCPLLoss("art")
    tiny = {n: torch.rand(1, CH[n], 3, 3) for n in loss.layers}
    assert torch.isfinite(loss(tiny, {n: v + 0.1 for n, v in tiny.items()}))
    none = {n: torch.rand(1, CH[n], 2, 2) for n in loss.layers}
    assert loss(none, none) == 0


def test_neighbour_difference_order():
    f = torch.arange(25.0).view(1, 1, 5, 5)
    d = neighbour_differences(f, torch.tensor([12]))  # centre (2, 2) = 12
    assert d.flatten().tolist() == [6.0, 5.0, 4.0, 1.0, -1.0, -4.0, -5.0, -6.0]


def test_identical_features_give_minimum_over_permutations():
    torch.manual_seed(0)
    loss = CCPLLoss("art")
    cont = _feats("art", seed=4)
    anchors = {n: sample_anchors(12, 12, 8, torch.Generator().manual_seed(5)) for n in loss.layers}
    same = loss(cont, cont, anchors=anchors)
    for seed in range(3):
        perm = {
            n: a[torch.randperm(len(a), generator=torch.Generator().manual_seed(seed))]
            for n, a in anchors.items()
        }
        # the generated image's vectors matched against the content's at permuted anchors
        shuffled = sum(
            _nce_with_key_anchors(loss, n, cont[n], cont[n], anchors[n], perm[n])
            for n in loss.layers
        )
        assert same <= shuffled + 1e-6


def _nce_with_key_anchors(loss, name, g, c, qa, ka):
    q = loss.project(name, neighbour_differences(g, qa))
    k = loss.project(name, neighbour_differences(c, ka))
    logits = torch.bmm(q, k.transpose(1, 2)) / loss.tau
    target = torch.arange(logits.shape[1]).expand(logits.shape[0], -1)
    return F.cross_entropy(logits.flatten(0, 1), target.reshape(-1))


def test_order_of_negatives_does_not_matter():
    torch.manual_seed(1)
    loss = CCPLLoss("art")
    gen, cont = _feats("art", seed=6), _feats("art", seed=7)
    name = "relu3_1"
    a = sample_anchors(12, 12, 8, torch.Generator().manual_seed(8))
    q = loss.project(name, neighbour_differences(gen[name], a))
    k = loss.project(name, neighbour_differences(cont[name], a))
    base = torch.bmm(q, k.transpose(1, 2))
    perm = torch.randperm(q.shape[1])
    # permuting queries and keys together relabels the same positives: the loss is unchanged
    logits = torch.bmm(q[:, perm], k[:, perm].transpose(1, 2))
    t = torch.arange(q.shape[1]).expand(q.shape[0], -1).reshape(-1)
    assert torch.allclose(
        F.cross_entropy(base.flatten(0, 1) / loss.tau, t),
        F.cross_entropy(logits.flatten(0, 1) / loss.tau, t),
        atol=1e-6,
    )


def test_style_and_content_loss_reference():
    g = [torch.rand(2, 4, 5, 5) for _ in range(2)]
    s = [torch.rand(2, 4, 6, 6) * 2 for _ in range(2)]
    ref = 0.0
    for a, b in zip(g, s, strict=True):
        ma, mb = a.mean((2, 3)), b.mean((2, 3))
        sa = (a.flatten(2).var(-1) + 1e-5).sqrt()
        sb = (b.flatten(2).var(-1) + 1e-5).sqrt()
        ref += ((ma - mb) ** 2).mean() + ((sa - sb) ** 2).mean()
    assert torch.allclose(style_loss(g, s), torch.tensor(float(ref)), atol=1e-6)
    assert torch.allclose(
        content_loss(g[0], s[0][..., :5, :5]), ((g[0] - s[0][..., :5, :5]) ** 2).mean()
    )


def test_gradients_reach_decoder_and_sct_not_encoder():
    net = random_sctnet("art", seed=0)
    module = TrainModule(net, TrainConfig())
    c, s = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    losses = module(c, s, torch.Generator().manual_seed(0))
    sum(losses.values()).backward()
    assert all(p.grad is None for p in net.encoder.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.decoder.parameters())
    assert all(p.grad is not None for p in net.sct.parameters())
    assert all(p.grad is not None for p in module.ccpl.parameters())
    # the CCPL term alone also reaches the decoder (through the generated image)
    net.zero_grad(set_to_none=True)
    module.zero_grad(set_to_none=True)
    module(c, s, torch.Generator().manual_seed(0))["ccpl"].backward()
    assert net.decoder[28].weight.grad.abs().sum() > 0
