"""Stylize: content IMAGE batch x style IMAGE(s) -> stylised IMAGE of exactly the content's size."""

from __future__ import annotations

import torch

from ..ccpl_core.color import COLOR_METHODS
from ..ccpl_core.errors import InputError
from ..ccpl_core.images import resize_short_side
from ..ccpl_core.masks import DEFAULT_FEATHER
from ..ccpl_core.pipeline import BYTES_PER_PIXEL, Stylizer
from . import comfy_bridge as cb
from .handle import SCTModelHandle

PRECISION_CHOICES = ("model", "auto", "fp32", "bf16", "fp16")


def make_stylizer(model: SCTModelHandle, precision: str = "model") -> Stylizer:
    """A Stylizer on the device the model handle asks for, with ComfyUI's memory freed for it."""
    if not isinstance(model, SCTModelHandle):
        raise InputError("sct_model: connect the output of a Load SCT Model node")
    device = cb.torch_device(model.device)
    chosen = model.precision if precision == "model" else precision
    return Stylizer(model.net, device=device, precision=chosen)


def style_images(style: torch.Tensor, size: int, what: str = "style") -> torch.Tensor:
    """IMAGE batch -> [B, 3, h, w] float, optionally resized (shorter side) like the CLI."""
    if not isinstance(style, torch.Tensor) or style.numel() == 0:
        raise InputError(f"{what}: connect a non-empty IMAGE")
    return resize_short_side(cb.image_to_bchw(style).float(), size)


class Stylize:
    """Stylise every image of a batch with one style, or a blend of two."""

    CATEGORY = "image/style transfer (CCPL)"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "stylize"
    DESCRIPTION = "CCPL/SCT style transfer. Any size (tiled at high resolution), any batch."

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "sct_model": ("SCT_MODEL", {"tooltip": "From Load SCT Model."}),
                "content": ("IMAGE", {"tooltip": "Images to stylise (a batch is fine)."}),
                "style": (
                    "IMAGE",
                    {"tooltip": "Style image; a batch of several is blended with equal weights."},
                ),
                "alpha": (
                    "FLOAT",
                    {
                        "default": 1.0,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.01,
                        "tooltip": "Style strength: 0 = content, 1 = full style.",
                    },
                ),
                "preserve_color": (
                    COLOR_METHODS,
                    {
                        "default": "none",
                        "tooltip": "Keep the content's colours: luminance = transfer texture "
                        "only; match = recolour the style to the content first.",
                    },
                ),
                "style_size": (
                    "INT",
                    {
                        "default": 512,
                        "min": 0,
                        "max": 4096,
                        "step": 8,
                        "tooltip": "Resize the style's shorter side to this "
                        "(0 = as is). 512 is what models expect.",
                    },
                ),
            },
            "optional": {
                "style_2": ("IMAGE", {"tooltip": "Second style to blend with the first."}),
                "style_2_weight": (
                    "FLOAT",
                    {
                        "default": 0.5,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.01,
                        "tooltip": "Weight of style_2.",
                    },
                ),
                "mask": (
                    "MASK",
                    {
                        "tooltip": "Stylise only where the mask is 1 (one mask for "
                        "all images or one per image)."
                    },
                ),
                "outside_style": (
                    "IMAGE",
                    {
                        "tooltip": "With a mask: apply this style outside "
                        "the mask instead of keeping the content."
                    },
                ),
                "mask_feather": (
                    "INT",
                    {
                        "default": DEFAULT_FEATHER,
                        "min": 0,
                        "max": 256,
                        "tooltip": "Soft edge of the mask, in pixels.",
                    },
                ),
                "precision": (
                    PRECISION_CHOICES,
                    {"default": "model", "tooltip": "'model' uses the loader's setting."},
                ),
            },
        }

    def stylize(
        self,
        sct_model,
        content,
        style,
        alpha,
        preserve_color,
        style_size,
        style_2=None,
        style_2_weight=0.5,
        mask=None,
        outside_style=None,
        mask_feather=DEFAULT_FEATHER,
        precision="model",
    ):
        stylizer = make_stylizer(sct_model, precision)
        styles = [style_images(style, style_size)]
        weights = [1.0]
        if style_2 is not None:
            styles.append(style_images(style_2, style_size, "style_2"))
            weights = [1.0 - style_2_weight, style_2_weight]
        flat = [s[i : i + 1] for s in styles for i in range(s.shape[0])]
        flat_w = [
            w / s.shape[0] for s, w in zip(styles, weights, strict=True) for _ in range(s.shape[0])
        ]
        if not isinstance(content, torch.Tensor) or content.numel() == 0:
            raise InputError("content: the IMAGE batch is empty")
        x = cb.image_to_bchw(content)
        b, _, h, w = x.shape
        cb.free_memory_for(stylizer.device, min(b, 4) * h * w * BYTES_PER_PIXEL[4])
        prepared = stylizer.prepare_style(flat, flat_w)
        outside = None
        if outside_style is not None:
            if mask is None:
                raise InputError("outside_style needs a mask (it is applied where the mask is 0)")
            outside = stylizer.prepare_style(
                style_images(outside_style, style_size, "outside_style")
            )
        result = torch.empty(b, h, w, 3, dtype=torch.float32, device=cb.output_device())
        try:
            stylizer.stylize(
                x,
                prepared,
                alpha=alpha,
                preserve_color=preserve_color,
                mask=mask,
                outside=outside,
                feather=mask_feather,
                progress=cb.progress_callback(),
                out=result.permute(0, 3, 1, 2),
            )
        finally:
            cb.cleanup(stylizer.device)
        return (result,)
