"""Region masks: validation, feathering and resampling to the feature grid."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import InputError

#: Default soft-edge radius of a mask, in pixels.
DEFAULT_FEATHER = 8


def prepare_mask(mask: torch.Tensor, batch: int, size: tuple[int, int]) -> torch.Tensor:
    """Validate a mask ([H,W], [B,H,W] or [B,1,H,W]; 1 = stylise) as float [B|1, 1, H, W]."""
    if not isinstance(mask, torch.Tensor):
        raise InputError(f"mask: expected a tensor, got {type(mask).__name__}")
    m = mask
    if m.dim() == 2:
        m = m[None, None]
    elif m.dim() == 3:
        m = m[:, None]
    if m.dim() != 4 or m.shape[1] != 1:
        raise InputError(f"mask: expected [H,W], [B,H,W] or [B,1,H,W], got {tuple(mask.shape)}")
    if m.shape[0] == 0:
        raise InputError("mask: the mask batch is empty")
    if tuple(m.shape[-2:]) != tuple(size):
        raise InputError(
            f"mask: size {m.shape[-2]}x{m.shape[-1]} does not match the content image "
            f"{size[0]}x{size[1]}; resize the mask to the content first"
        )
    if m.shape[0] not in (1, batch):
        raise InputError(
            f"mask: the mask batch has {m.shape[0]} masks for {batch} content images; give one "
            "mask for all images or one per image"
        )
    m = m.float() if m.is_floating_point() else m.float() / (255.0 if m.max() > 1 else 1.0)
    if not torch.isfinite(m).all():
        raise InputError("mask: contains NaN or infinite values")
    return m.clamp(0, 1)


def feather(mask: torch.Tensor, radius: float) -> torch.Tensor:
    """Gaussian-soften a [B, 1, H, W] mask; ``radius`` is about two standard deviations."""
    if radius <= 0:
        return mask
    sigma = radius / 2.0
    k = int(min(radius, max(mask.shape[-2:]) - 1))
    if k < 1:
        return mask
    x = torch.arange(-k, k + 1, dtype=torch.float32, device=mask.device)
    kern = torch.exp(-0.5 * (x / sigma) ** 2)
    kern = (kern / kern.sum()).to(mask.dtype)
    pad = min(k, mask.shape[-2] - 1), min(k, mask.shape[-1] - 1)
    out = mask
    if pad[0] >= 1:
        kk = kern[k - pad[0] : k + pad[0] + 1]
        out = F.conv2d(
            F.pad(out, (0, 0, pad[0], pad[0]), mode="replicate"), (kk / kk.sum()).view(1, 1, -1, 1)
        )
    if pad[1] >= 1:
        kk = kern[k - pad[1] : k + pad[1] + 1]
        out = F.conv2d(
            F.pad(out, (pad[1], pad[1], 0, 0), mode="replicate"), (kk / kk.sum()).view(1, 1, 1, -1)
        )
    return out


def to_feature_grid(mask: torch.Tensor, stride: int) -> torch.Tensor:
    """Average a pixel mask over each stride x stride cell (the last cells may be partial)."""
    h, w = mask.shape[-2:]
    ph, pw = -h % stride, -w % stride
    padded = F.pad(mask, (0, pw, 0, ph), mode="replicate") if ph or pw else mask
    return F.avg_pool2d(padded, stride)
