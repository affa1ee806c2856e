"""CCPLTemporalMetrics: how much a stylised clip flickers, measured inside the graph.

The engine of ``ccpl eval temporal``: the warping error (optical flow on the source frames, an
occlusion mask, masked RMSE of the stylised frames) and, given a model and the style, a style
distance, so a user can tune feature/detail blend without leaving ComfyUI. A lower warping error
only counts when the style distance did not rise with it.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from ..ccpl_core.errors import InputError
from ..ccpl_core.option_specs import METRIC_FLOW
from ..ccpl_core.video.metrics import style_distance, warping_error
from . import comfy_bridge as cb
from .handle import SCTModelHandle
from .inputs import comfy_input


def _frames(image: torch.Tensor, what: str) -> list[np.ndarray]:
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[0] == 0:
        raise InputError(f"{what}: connect a clip (an IMAGE batch of frames)")
    return list((image.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy())


class TemporalMetrics:
    """Warping error (and style distance) of a stylised clip against its source."""

    CATEGORY = "image/style transfer (CCPL)"
    SEARCH_ALIASES = (
        "flicker",
        "deflicker",
        "warping error",
        "temporal coherence",
        "video metrics",
        "style transfer",
        "ccpl",
    )
    RETURN_TYPES = ("FLOAT", "FLOAT", "STRING")
    RETURN_NAMES = ("warping_error", "style_distance", "report")
    OUTPUT_TOOLTIPS = (
        "Mean masked RMSE between each stylised frame and the previous one warped onto it "
        "(0..1 images; lower = steadier).",
        "Distance of the frames' VGG channel statistics to the style (lower = stronger style); "
        "-1 without sct_model and style.",
        "Both figures as JSON (connect a text preview node to read it).",
    )
    FUNCTION = "measure"
    OUTPUT_NODE = True
    DESCRIPTION = (
        "Measure flicker: the warping error of a stylised clip against its source frames, and "
        "optionally its style strength, to tune Video Frames Style Transfer's blends in the graph."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "source": ("IMAGE", {"tooltip": "The clip that was stylised (same frames)."}),
                "stylized": ("IMAGE", {"tooltip": "The stylised clip."}),
                "interval": (
                    "INT",
                    {
                        "default": 1,
                        "min": 1,
                        "max": 100,
                        "tooltip": "Compare frames this far apart (1 = neighbours; 10 shows "
                        "slow drift).",
                    },
                ),
                "flow": comfy_input(METRIC_FLOW),
            },
            "optional": {
                "sct_model": ("SCT_MODEL", {"tooltip": "Its encoder measures style strength."}),
                "style": ("IMAGE", {"tooltip": "The style image, for the style distance."}),
            },
        }

    def measure(self, source, stylized, interval, flow, sct_model=None, style=None):
        src, out = _frames(source, "source"), _frames(stylized, "stylized")
        if len(src) != len(out):
            raise InputError(
                f"stylized has {len(out)} frames but source has {len(src)}; connect the clip "
                "that was stylised"
            )
        cb.check_interrupt()
        we = warping_error(src, out, interval=interval, preset=flow)
        dist = -1.0
        if sct_model is not None and style is not None:
            if not isinstance(sct_model, SCTModelHandle):
                raise InputError(
                    "sct_model: connect the output of a Load Style Transfer Model node"
                )
            with torch.inference_mode():
                ref = cb.image_to_bchw(style[:1]).float().cpu()
                dist = style_distance(out, ref, sct_model.net.encoder, every=1)
        report = json.dumps(
            {"warping_error": we, "interval": interval, "flow": flow, "style_distance": dist}
        )
        return {"ui": {"text": [report]}, "result": (we, dist, report)}
