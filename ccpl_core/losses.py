"""Training losses of CCPL: content, mean/std style, and the Contrastive Coherence Preserving Loss.

CCPL compares *differences between neighbouring features* of the generated image G and the content
image C: at N anchors (the same for G and C and for every image of the batch), the 8 vectors
f(anchor) - f(neighbour) are projected by a per-layer MLP head, L2-normalised, and G's vector must
pick out C's vector at the same (anchor, direction) among all 8N of C's vectors (InfoNCE with
temperature tau). Everything is vectorised: one gather per layer, one batched matmul.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .models.sct import EPS
from .modes import TAP_CHANNELS, get_mode

#: (dy, dx) of the 8 neighbours, in the authors' order.
NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def mean_std(feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std (unbiased variance + eps) of [B, C, H, W], shape [B, C]."""
    flat = feat.float().flatten(2)
    return flat.mean(-1), (flat.var(-1, unbiased=True) + EPS).sqrt()


def content_loss(gen: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE between the deepest features of the output and of the content (raw, not normalised)."""
    return F.mse_loss(gen.float(), target.detach().float())


def style_loss(gen_feats: list[torch.Tensor], style_feats: list[torch.Tensor]) -> torch.Tensor:
    """Sum over layers of MSE(channel means) + MSE(channel stds)."""
    total = gen_feats[0].new_zeros((), dtype=torch.float32)
    for g, s in zip(gen_feats, style_feats, strict=True):
        gm, gs = mean_std(g)
        sm, ss = mean_std(s.detach())
        total = total + F.mse_loss(gm, sm) + F.mse_loss(gs, ss)
    return total


def sample_anchors(
    height: int, width: int, count: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Flat indices of up to ``count`` distinct interior positions (all 8 neighbours exist).

    Small maps give fewer anchors (all interior positions) instead of failing; a map without an
    interior (height or width < 3) gives none.
    """
    ih, iw = height - 2, width - 2
    if ih <= 0 or iw <= 0:
        return torch.empty(0, dtype=torch.long)
    picks = torch.randperm(ih * iw, generator=generator)[: min(count, ih * iw)]
    return (picks // iw + 1) * width + (picks % iw + 1)


def neighbour_differences(feat: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """f(anchor) - f(neighbour) for every anchor and direction: [B, 8N, C], direction-major."""
    w = feat.shape[-1]
    flat = feat.flatten(2)  # [B, C, HW]
    offsets = torch.tensor([dy * w + dx for dy, dx in NEIGHBOURS], device=feat.device)
    anchors = anchors.to(feat.device)
    neighbours = (offsets[:, None] + anchors[None, :]).reshape(-1)  # [8N]
    centres = anchors.repeat(len(NEIGHBOURS))  # [8N]
    return (flat[:, :, centres] - flat[:, :, neighbours]).transpose(1, 2)


def projection_head(channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(channels, channels), nn.ReLU(), nn.Linear(channels, channels // 4)
    )


def info_nce(query: torch.Tensor, key: torch.Tensor, tau: float) -> torch.Tensor:
    """PatchNCE: each query's positive is the key at the same index; other keys are negatives.

    query, key: [B, S, D], L2-normalised. Keys are detached.
    """
    logits = torch.bmm(query, key.detach().transpose(1, 2)) / tau  # [B, S, S]
    target = torch.arange(logits.shape[1], device=logits.device).expand(logits.shape[0], -1)
    return F.cross_entropy(logits.flatten(0, 1), target.reshape(-1))


class CCPLLoss(nn.Module):
    """The CCPL loss with its trainable per-layer projection heads."""

    def __init__(self, mode: str = "art", num_anchors: int = 8, tau: float = 0.07) -> None:
        super().__init__()
        self.layers = get_mode(mode).ccpl_taps
        self.num_anchors = num_anchors
        self.tau = tau
        self.heads = nn.ModuleDict({n: projection_head(TAP_CHANNELS[n]) for n in self.layers})

    def project(self, layer: str, diffs: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.heads[layer](diffs.float()), dim=-1, eps=1e-7)

    def forward(
        self,
        gen_feats: dict[str, torch.Tensor],
        content_feats: dict[str, torch.Tensor],
        generator: torch.Generator | None = None,
        anchors: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Sum over this mode's layers. ``anchors`` (per layer) overrides the random sampling."""
        total = torch.zeros((), device=gen_feats[self.layers[0]].device)
        for name in self.layers:
            g, c = gen_feats[name], content_feats[name]
            idx = (
                anchors[name]
                if anchors
                else sample_anchors(*g.shape[-2:], self.num_anchors, generator)
            )
            if idx.numel() == 0:
                continue
            q = self.project(name, neighbour_differences(g, idx))
            k = self.project(name, neighbour_differences(c.detach(), idx))
            total = total + info_nce(q, k, self.tau)
        return total
