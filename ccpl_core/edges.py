"""The content's own edges for a photo-realistic result: a colour-guided filter.

A photo-realistic model should give a photo the other photo's colours and light, not redraw it;
its decoder, working from relu3_1 features, adds a painted texture, smears and halos. The
guided filter of He, Sun and Tang (ECCV 2010, "Guided Image Filtering") explains the result,
window by window, as a linear function of the content photo's colours, so the colours and light
of the result stay and the edges and fine detail become the photo's (the smoothing step of
photo-realistic WCT, Li et al. 2018, approximated the same way). The coefficients vary only
over the window's scale, so they are computed on a copy where the window is
:data:`COARSE_RADIUS` pixels wide and upsampled (He and Sun 2015, "Fast Guided Filter"): the
step's cost is a few passes over the full-size picture at any size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Window radius as a share of the image's shorter side (48 pixels at 384 px): windows wide
#: enough that the decoder's blotches and halos, smaller than them, average out.
RADIUS_SHARE = 1 / 8
#: Regularisation of the local fit (colours in [0, 1]): larger keeps more of the result's own
#: texture; smaller follows the photo more closely.
EPS = 1e-3
#: Window radius on the copy the coefficients are computed on.
COARSE_RADIUS = 16


def _box1d(x: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """Mean over a window of ``2 radius + 1`` along ``dim``, clipped at the borders."""
    n = x.shape[dim]
    shape = list(x.shape)
    shape[dim] = 1
    sums = torch.cat([x.new_zeros(shape), x.cumsum(dim)], dim)
    idx = torch.arange(n, device=x.device)
    hi, lo = (idx + radius + 1).clamp(max=n), (idx - radius).clamp(min=0)
    count = (hi - lo).to(x.dtype)
    view = [1] * x.dim()
    view[dim] = n
    return (sums.index_select(dim, hi) - sums.index_select(dim, lo)) / count.view(view)


def box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean of ``x`` [..., H, W] over (2 radius + 1)^2 windows, clipped at the borders."""
    return _box1d(_box1d(x, radius, -2), radius, -1)


def guided_filter(
    guide: torch.Tensor, src: torch.Tensor, radius: int, eps: float = EPS
) -> torch.Tensor:
    """``src`` [B, C, H, W] redrawn along the edges of ``guide`` [B, 3, H, W] (both in [0, 1]).

    In every window of radius ``radius`` each channel of ``src`` is fitted as a linear function
    of the guide's three colours (ridge ``eps``); the result averages the fits that cover each
    pixel. Computed on a copy where the radius is :data:`COARSE_RADIUS`, the averaged
    coefficients upsampled and applied to the full-size guide.
    """
    b, c, h, w = src.shape
    scale = max(1.0, radius / COARSE_RADIUS)
    size = (max(1, round(h / scale)), max(1, round(w / scale)))
    r = max(1, round(radius / scale))
    g_full = guide.float()
    g_full = g_full - g_full.mean(dim=(-2, -1), keepdim=True)  # centred: less cancellation
    g = F.interpolate(g_full, size=size, mode="area") if scale > 1 else g_full
    p = F.interpolate(src.float(), size=size, mode="area") if scale > 1 else src.float()
    mean_g, mean_p = box(g, r), box(p, r)
    # covariance of the guide's colours [B, h, w, 3, 3] and with each source channel [B, h, w, 3, C]
    gg = g.unsqueeze(1) * g.unsqueeze(2)  # [B, 3, 3, h, w]
    cov_g = box(gg, r) - mean_g.unsqueeze(1) * mean_g.unsqueeze(2)
    gp = g.unsqueeze(2) * p.unsqueeze(1)  # [B, 3, C, h, w]
    cov_gp = box(gp, r) - mean_g.unsqueeze(2) * mean_p.unsqueeze(1)
    ridge = eps * torch.eye(3, dtype=g.dtype, device=g.device)
    a = torch.linalg.solve(
        cov_g.permute(0, 3, 4, 1, 2) + ridge, cov_gp.permute(0, 3, 4, 1, 2)
    )  # [B, h, w, 3, C]
    a = a.permute(0, 4, 3, 1, 2)  # [B, C, 3, h, w]
    offset = mean_p - (a * mean_g.unsqueeze(1)).sum(2)  # [B, C, h, w]
    a, offset = box(a, r), box(offset, r)
    out = torch.empty(b, c, h, w, dtype=torch.float32, device=src.device)
    for ch in range(c):  # one output channel at a time: three full-size planes at most
        a_ch = a[:, ch]
        o_ch = offset[:, ch : ch + 1]
        if scale > 1:
            a_ch = F.interpolate(a_ch, size=(h, w), mode="bilinear", align_corners=False)
            o_ch = F.interpolate(o_ch, size=(h, w), mode="bilinear", align_corners=False)
        out[:, ch] = (a_ch * g_full).sum(1) + o_ch[:, 0]
    return out


def content_edges(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """``result`` [B, 3, H, W] guided-filtered with the content photo ``content`` as the guide:
    the photo's edges and detail, the result's colours and light."""
    h, w = result.shape[-2:]
    radius = max(1, round(min(h, w) * RADIUS_SHARE))
    return guided_filter(content.to(result.device), result, radius).clamp_(0, 1)
