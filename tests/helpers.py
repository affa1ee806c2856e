"""Helpers shared by tests (importable because tests/ is on sys.path under pytest)."""

from __future__ import annotations

from pathlib import Path

import torch

from ccpl_core.images import load_image

DATA = Path(__file__).parent / "data"


def image(name: str, size: int | None = None) -> torch.Tensor:
    """A real photo from tests/data as [1, 3, H, W], optionally resized to size x size."""
    x = load_image(DATA / f"{name}.jpg")[0]
    if size:
        x = torch.nn.functional.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        ).clamp(0, 1)
    return x
