"""What each training stage minimises: one module, one forward, named losses.

A good SCT model is built in stages (the paper's joint recipe alone needs ~160k iterations to get
there from scratch):

- ``reconstruct``: the decoder learns to invert the frozen encoder's deepest features (pixel +
  perceptual loss). Only a decoder that can invert *general* features renders a transformed
  style faithfully.
- ``sct``: SCT alone, in feature space, no decoder in the loop (cheap). ``sct_target`` says
  towards what: ``wct`` regresses it onto the closed-form whitening-colouring transform (WCT) of
  the same content/style pair; ``moments`` asks only that its output have the style's mean and
  covariance; ``shape`` (:func:`fusion_shape`) asks for the style's covariance *shape* and
  mean, the total variance on a log scale and the WCT's arrangement by correlation. On crops the
  WCT target is noisy and the regression shrinks SCT towards the style mean (flat pictures); the
  moments target shrinks it too (a covariance difference first falls fastest by shrinking, and
  its gradient vanishes at zero variance). ``shape`` has neither pull: from the shipped model it
  raised the effective rank of the fused features from 1.8 to 4.6 in 450 steps on cached features.
- ``joint``: the paper's losses (content, mean/std style, CCPL) through decoder and SCT, plus
  optionally a teacher term (the Magenta network's picture of the same pair, see ``teacher.py``)
  whose weight decays linearly to zero at ``teacher_until``, and the ``shape`` target on SCT's
  output (``fusion_weight``) so that it does not collapse to a few directions again, and a
  palette term (``palette_weight``, :func:`palette_distance`): the paper's style loss matches
  VGG statistics, which leave the picture's RGB colours free to drift from the painting's; and a
  texture term (``texture_weight``, :func:`texture_distance`): channel covariances at every
  style tap, which the per-channel mean/std loss leaves free.

``forward`` returns the unweighted losses by name; :func:`loss_weights` gives their weights.
The joint stage also returns ``fused_rank`` (the effective rank of SCT's output), which is logged
but has no weight: it is what shows an SCT collapsing to a few directions.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import CCPLLoss, content_loss, style_loss
from ..models import SCTNet, fusion
from .config import STAGES, TrainConfig
from .wct import whiten_colour

#: (content, style) float batches -> the teacher's pictures of the same pairs.
Teacher = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: Damping of the WCT teacher's whitening (training crops have few positions per channel).
WCT_RIDGE = 0.01


def teacher_weight_at(cfg: TrainConfig, iteration: int) -> float:
    """The teacher's weight: ``teacher_weight`` decaying linearly to 0 at ``teacher_until``."""
    if cfg.stage != "joint" or cfg.teacher_weight <= 0:
        return 0.0
    if cfg.teacher_until <= 0:
        return cfg.teacher_weight
    return cfg.teacher_weight * max(0.0, 1.0 - iteration / cfg.teacher_until)


def loss_weights(cfg: TrainConfig, iteration: int = 0) -> dict[str, float]:
    """Weight of each named loss of ``cfg.stage`` at ``iteration``."""
    teacher = teacher_weight_at(cfg, iteration)
    return {
        "joint": {
            "content": cfg.content_weight,
            "style": cfg.style_weight,
            "ccpl": cfg.ccpl_weight,
            **({"teacher": teacher} if teacher > 0 else {}),
            **({"fusion": cfg.fusion_weight} if cfg.fusion_weight > 0 else {}),
            **({"palette": cfg.palette_weight} if cfg.palette_weight > 0 else {}),
            **({"texture": cfg.texture_weight} if cfg.texture_weight > 0 else {}),
        },
        "reconstruct": {"pixel": cfg.pixel_weight, "perceptual": cfg.perceptual_weight},
        "sct": {cfg.sct_target: 1.0},
    }[cfg.stage]


def relative_mse(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE divided by the target's mean square: comparable across layers and feature scales."""
    target = target.detach().float()
    return F.mse_loss(x.float(), target) / target.square().mean().clamp_min(1e-8)


def mean_covariance(feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample channel mean [B, C] and covariance [B, C, C] of features [B, C, H, W]."""
    flat = feat.flatten(2)
    mean = flat.mean(2)
    centred = flat - mean[..., None]
    return mean, centred @ centred.transpose(1, 2) / max(flat.shape[2] - 1, 1)


def palette_distance(
    picture: torch.Tensor,
    style: torch.Tensor,
    directions: int = 32,
    gen: torch.Generator | None = None,
) -> torch.Tensor:
    """Sliced Wasserstein-1 distance between the RGB pixel distributions of ``picture`` and
    ``style`` ([B, 3, H, W] each, any sizes), per sample, in [0, 1] colour units: [B].

    Both sets of pixels are projected on the same random unit directions (fresh each call, so
    that no fixed set of directions is learnt), sorted and compared quantile by quantile; the
    larger set is read at the smaller one's quantiles. The benchmark's figure
    (:func:`ccpl_core.quality.palette_distance`) is the same distance on 64 fixed directions,
    x255, in numpy: this is its differentiable, per-step-random twin for training.
    """
    rgb = torch.randn(directions, 3, generator=gen)
    rgb = (rgb / rgb.norm(dim=1, keepdim=True)).to(picture.device)
    a = torch.einsum("kc,bcn->bkn", rgb, picture.float().flatten(2)).sort(dim=2).values
    b = torch.einsum("kc,bcn->bkn", rgb, style.float().flatten(2)).sort(dim=2).values
    if a.shape[2] != b.shape[2]:
        n = min(a.shape[2], b.shape[2])
        a, b = (quantiles(x, n) for x in (a, b))
    return (a - b).abs().mean((1, 2))


def gram_errors(picture_feats: list[torch.Tensor], style_feats: list[torch.Tensor]) -> torch.Tensor:
    """Per sample and tap, mean((G_picture - G_style)^2) / mean(G_style^2) of the centred Gram
    matrices (channel covariances over positions): [B, taps].

    Summed over the taps this is the benchmark's texture figure
    (:func:`ccpl_core.quality.relative_gram_distance`, which pools a batch and computes in
    float64 outside autograd).
    """
    errors = []
    for p, s in zip(picture_feats, style_feats, strict=True):
        gp, gs = (gram(f) for f in (p.float(), s.detach().float()))
        errors.append((gp - gs).square().mean((1, 2)) / gs.square().mean((1, 2)).clamp_min(1e-12))
    return torch.stack(errors, dim=1)


def gram(feat: torch.Tensor) -> torch.Tensor:
    """Centred Gram matrices [B, C, C] of [B, C, H, W], averaged over the H*W positions (the
    biased covariance, as the benchmark's)."""
    n = feat.shape[-2] * feat.shape[-1]
    return mean_covariance(feat)[1] * ((n - 1) / n)


def texture_distance(
    picture_feats: list[torch.Tensor], style_feats: list[torch.Tensor]
) -> torch.Tensor:
    """The texture term: relative Frobenius distance of the Gram matrices, summed over the
    taps, per sample: [B].

    The paper's mean/std style loss is blind to how channels vary *together*; a picture can
    meet it through a few directions (the shipped SCT's rank-2 output). The square root of each
    tap's :func:`gram_errors` keeps the term quadratic in the features: the benchmark's figure
    itself is quartic, and one Adam step on it multiplied a small decoder's loss by 10^8.
    """
    return gram_errors(picture_feats, style_feats).clamp_min(1e-12).sqrt().sum(1)


def quantiles(sorted_values: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` evenly spaced quantiles of values sorted along the last dimension."""
    at = torch.linspace(0, sorted_values.shape[-1] - 1, n, device=sorted_values.device)
    return sorted_values[..., at.round().long()]


def relative_error(got: torch.Tensor, want: torch.Tensor) -> torch.Tensor:
    """Per-sample squared error over everything but the batch dimension, divided by the
    target's squared norm: [B, ...] -> [B]."""
    dims = tuple(range(1, want.dim()))
    return (got - want).square().sum(dims) / want.square().sum(dims).clamp_min(1e-8)


def fusion_statistics(fused: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
    """How well one fused feature map [1, C, H, W] has the style's: effective ranks of both,
    ratio of total variances, relative covariance error (benchmarks and tools report these)."""
    _, fc = mean_covariance(fused.double())
    _, sc = mean_covariance(style.double())
    return {
        "rank": float(effective_rank(fused[0])),
        "style_rank": float(effective_rank(style[0])),
        "variance_ratio": float(fc[0].trace() / sc[0].trace()),
        "covariance_error": float((fc[0] - sc[0]).norm() / sc[0].norm()),
    }


def fusion_shape(fused: torch.Tensor, style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """How far SCT's output is from the style's feature distribution, blind to overall scale.

    Relative error of the covariance *shape* (covariance / its trace), squared log ratio of the
    total variances (x0.1), relative error of the mean, and 1 - the correlation of the centred
    output with the closed-form WCT of the pair (the content's arrangement). Unlike a plain MSE
    to WCT or a covariance difference, nothing here pulls the output towards zero variance, and
    the gradient does not vanish there: both shrank SCT to flat pictures on the CPU.
    """
    fm, fc = mean_covariance(fused.float())
    sm, sc = mean_covariance(style.float())
    ft = fc.diagonal(dim1=1, dim2=2).sum(1).clamp_min(1e-8)
    st = sc.diagonal(dim1=1, dim2=2).sum(1).clamp_min(1e-8)
    shape = relative_error(fc / ft[:, None, None], sc / st[:, None, None])
    scale = (ft.log() - st.log()).square()
    mean = relative_error(fm, sm)
    with torch.no_grad():
        target = whiten_colour(content.float(), style.float(), ridge=WCT_RIDGE).flatten(2)
        target = target - target.mean(2, keepdim=True)
    got = fused.float().flatten(2) - fm[..., None]
    corr = (got * target).sum((1, 2)) / (got.norm(dim=(1, 2)) * target.norm(dim=(1, 2)) + 1e-8)
    return (shape + 0.1 * scale + mean + 1 - corr).mean()


def effective_rank(feat: torch.Tensor) -> torch.Tensor:
    """Participation ratio of the covariance of features [C, H, W]: (sum l)^2 / sum l^2.

    About 25-45 for the relu4_1 features of a painting; a fusion whose output has an effective
    rank of ~2 paints every style through the same two directions (the shipped art model's SCT
    was measured at 1.9 by benchmarks/bench_fusion.py).
    """
    _, cov = mean_covariance(feat[None].double())
    values = torch.linalg.eigvalsh(cov[0]).clamp_min(0)
    return (values.sum().square() / values.square().sum().clamp_min(1e-30)).float()


class TrainModule(nn.Module):
    """Decoder + SCT + CCPL heads around a frozen encoder; trains the parts ``cfg.stage`` needs."""

    def __init__(self, net: SCTNet, cfg: TrainConfig, teacher: Teacher | None = None) -> None:
        super().__init__()
        if cfg.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {cfg.stage!r}")
        self.net = net
        self.stage = cfg.stage
        self.sct_target = cfg.sct_target
        self.fusion_weight = cfg.fusion_weight if cfg.stage == "joint" else 0.0
        self.palette_weight = cfg.palette_weight if cfg.stage == "joint" else 0.0
        self.texture_weight = cfg.texture_weight if cfg.stage == "joint" else 0.0
        self.wct = cfg.wct if cfg.stage == "joint" else 0.0
        self.ccpl = CCPLLoss(net.mode, cfg.num_anchors, cfg.tau)
        self.taps = net.spec.style_taps
        net.encoder.requires_grad_(False)
        joint_decoder = cfg.stage == "joint" and not cfg.freeze_decoder
        net.decoder.requires_grad_(joint_decoder or cfg.stage == "reconstruct")
        net.sct.requires_grad_(cfg.stage in ("joint", "sct"))
        self.ccpl.requires_grad_(cfg.stage == "joint")
        #: (content, style) -> target pictures; asked only while its weight is above zero.
        self.teacher = teacher
        self.use_teacher = False

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(zip(self.taps, self.net.encoder.taps(x, self.taps), strict=True))

    def forward(
        self, content: torch.Tensor, style: torch.Tensor, gen: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        if self.stage == "reconstruct":
            return self.reconstruct(torch.cat([content, style]))
        if self.stage == "sct":
            if self.sct_target == "moments":
                return self.match_moments(content, style)
            if self.sct_target == "shape":
                return self.match_shape(content, style)
            return self.regress_sct(content, style)
        return self.joint(content, style, gen)

    def joint(
        self, content: torch.Tensor, style: torch.Tensor, gen: torch.Generator | None
    ) -> dict[str, torch.Tensor]:
        """The paper's objective: content + mean/std style + CCPL on the stylised image."""
        with torch.no_grad():
            cf = self.features(content)
            sf = self.features(style)
        deepest = self.taps[-1]
        # the product's fusion: with a WCT share, SCT learns what to add to the closed form
        code = fusion.style_code(self.net.sct, sf[deepest], colour=self.wct > 0)
        fused = fusion.fuse(self.net.sct, cf[deepest], code, wct=self.wct)
        out = self.net.decoder(fused.to(content.dtype))
        gf = self.features(out)
        losses = {
            "content": content_loss(gf[deepest], cf[deepest]),
            "style": style_loss([gf[t] for t in self.taps], [sf[t] for t in self.taps]),
            "ccpl": self.ccpl(gf, cf, generator=gen),
        }
        if self.use_teacher and self.teacher is not None:
            target = self.teacher(content, style)
            with torch.no_grad():
                want = self.features(target.to(out.dtype))
            losses["teacher"] = sum(self.picture_terms(out, gf, target, want))
        if self.fusion_weight > 0:  # keeps SCT's output from collapsing to a few directions
            losses["fusion"] = fusion_shape(fused, sf[deepest], cf[deepest])
        if self.palette_weight > 0:  # the painting's colours, which VGG statistics leave free
            h, w = content.shape[-2:]
            losses["palette"] = palette_distance(out[..., :h, :w], style, gen=gen).mean()
        if self.texture_weight > 0:  # how channels vary together, which mean/std leave free
            picture = [gf[t] for t in self.taps]
            losses["texture"] = texture_distance(picture, [sf[t] for t in self.taps]).mean()
        with torch.no_grad():  # logged, not trained on: SCT collapsing shows here first
            losses["fused_rank"] = effective_rank(fused[0].detach().float())
        return losses

    def picture_terms(
        self,
        out: torch.Tensor,
        got: dict[str, torch.Tensor],
        target: torch.Tensor,
        want: dict[str, torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(L1 in pixels, mean relative MSE over the taps) between ``out`` (features ``got``) and
        ``target`` (features ``want``): the reconstruction loss, also used towards a teacher."""
        h, w = target.shape[-2:]
        perceptual = sum(relative_mse(got[t], want[t]) for t in self.taps) / len(self.taps)
        return F.l1_loss(out[..., :h, :w].float(), target.float()), perceptual

    def reconstruct(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Decode the images' own deepest features: L1 in pixels + relative MSE at every tap."""
        with torch.no_grad():
            target = self.features(images)
        out = self.net.decoder(target[self.taps[-1]].to(images.dtype))
        h, w = images.shape[-2:]
        out = out[..., :h, :w]
        pixel, perceptual = self.picture_terms(out, self.features(out), images, target)
        return {"pixel": pixel, "perceptual": perceptual}

    @torch.no_grad()
    def deepest_features(
        self, content: torch.Tensor, style: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The frozen encoder's deepest float32 features of content and style (SCT's inputs)."""
        deepest = self.taps[-1]
        return self.features(content)[deepest].float(), self.features(style)[deepest].float()

    def match_moments(self, content: torch.Tensor, style: torch.Tensor) -> dict[str, torch.Tensor]:
        """SCT's fused features against the style's own mean and covariance (relative errors)."""
        cf, sf = self.deepest_features(content, style)
        fused = self.net.sct(cf, sf).float()
        fm, fc = mean_covariance(fused)
        sm, sc = mean_covariance(sf)
        return {"moments": (relative_error(fm, sm) + relative_error(fc, sc)).mean()}

    def match_shape(self, content: torch.Tensor, style: torch.Tensor) -> dict[str, torch.Tensor]:
        """SCT's fused features against the style's covariance shape and the pair's WCT."""
        cf, sf = self.deepest_features(content, style)
        return {"shape": fusion_shape(self.net.sct(cf, sf), sf, cf)}

    def regress_sct(self, content: torch.Tensor, style: torch.Tensor) -> dict[str, torch.Tensor]:
        """SCT's fused features against the closed-form WCT of the same pair (relative MSE)."""
        cf, sf = self.deepest_features(content, style)
        with torch.no_grad():
            target = whiten_colour(cf, sf, ridge=WCT_RIDGE)
        return {"wct": relative_mse(self.net.sct(cf, sf), target)}
