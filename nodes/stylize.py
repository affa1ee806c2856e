"""Stylize: content IMAGE batch x style IMAGE(s) -> stylised IMAGE of exactly the content's size."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from ..ccpl_core.errors import InputError
from ..ccpl_core.images import resize_short_side
from ..ccpl_core.option_specs import (
    ALPHA,
    MASK_FEATHER,
    PALETTE,
    PRESERVE_COLOR,
    STYLE_SIZE,
    STYLE_WEIGHTS,
    WCT,
)
from ..ccpl_core.options import style_weights as parse_style_weights
from ..ccpl_core.pipeline import Stylizer, two_group_weights
from ..ccpl_core.planner import model_bytes, step_bytes
from ..ccpl_core.runtime import MEMORY_BUDGET_ENV, resolve_dtype
from . import comfy_bridge as cb
from .handle import SCTModelHandle
from .inputs import comfy_input, run_precision_input

STYLE_BATCH_MODES = ("blend", "one per style")
#: (batch, height, width) of an input the network will see.
Shape = tuple[int, int, int]


def check_handle(model: object) -> SCTModelHandle:
    """A readable error for a wrong socket value before any work is done."""
    if not isinstance(model, SCTModelHandle):
        raise InputError("sct_model: connect the output of a Load Style Transfer Model node")
    return model


def make_stylizer(
    model: SCTModelHandle,
    precision: str = "model",
    shapes: Sequence[Shape] = (),
    detail: bool = False,
    cpu_step_cap: int | None = None,
) -> Stylizer:
    """A Stylizer on the handle's device, with ComfyUI asked for the memory first.

    The request is the model at the run dtype plus the largest step the core will plan for the
    inputs in ``shapes`` (one chunk or one tile, not the whole batch), so ComfyUI unloads other
    models only as far as this run needs; only then do the model's copies move to the device.
    ``detail``: the first shape (the frames) goes through the video detail carry, which keeps
    full-resolution activations. ``cpu_step_cap`` caps one step's memory on the CPU (where
    ComfyUI's own models share the RAM) unless $CCPL_MEMORY_BUDGET_MB sets it.
    """
    check_handle(model)
    device = cb.torch_device(model.device)
    chosen = cb.run_precision(device, model.precision if precision == "model" else precision)
    dtype = resolve_dtype(chosen, device)
    weights = model_bytes(model.net, dtype)
    budget = cb.memory_budget_for(device, weights)
    if cpu_step_cap and device.type == "cpu" and not os.environ.get(MEMORY_BUDGET_ENV):
        budget = min(budget, cpu_step_cap)
    work = max(
        (step_bytes(model.net, dtype, *s, budget, detail and i == 0) for i, s in enumerate(shapes)),
        default=0,
    )
    cb.free_memory_for(device, weights + work)
    return Stylizer(model.net, device=device, precision=chosen, memory_budget_bytes=budget)


def release(stylizer: Stylizer) -> None:
    """After a run: drop the stylizer's device copies of the model (also when an error's
    traceback still holds the stylizer), then give cached memory back. The handle's model never
    left the CPU."""
    stylizer.encoder = stylizer.decoder = stylizer.sct = None  # type: ignore[assignment]
    cb.cleanup()


def style_images(style: torch.Tensor, size: int, what: str = "style") -> torch.Tensor:
    """IMAGE batch -> [B, 3, h, w] float, optionally resized (shorter side) like the CLI."""
    if not isinstance(style, torch.Tensor) or style.numel() == 0:
        raise InputError(f"{what}: connect a non-empty IMAGE")
    return resize_short_side(cb.image_to_bchw(style).float(), size)


class Stylize:
    """Stylise every image of a batch with one style, or a blend of two."""

    CATEGORY = "image/style transfer (CCPL)"
    SEARCH_ALIASES = (
        "style transfer",
        "neural style",
        "stylize image",
        "artistic style",
        "painting style",
        "photo style",
        "ccpl",
    )
    RETURN_TYPES = ("IMAGE",)
    OUTPUT_TOOLTIPS = ("The stylised images, exactly the content's size.",)
    FUNCTION = "stylize"
    DESCRIPTION = "CCPL/SCT style transfer. Any size (tiled at high resolution), any batch."

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "sct_model": ("SCT_MODEL", {"tooltip": "From Load Style Transfer Model."}),
                "content": ("IMAGE", {"tooltip": "Images to stylise (a batch is fine)."}),
                "style": (
                    "IMAGE",
                    {"tooltip": "Style image; a batch of several is blended with equal weights."},
                ),
                "alpha": comfy_input(ALPHA),
                "preserve_color": comfy_input(PRESERVE_COLOR),
                "style_size": comfy_input(STYLE_SIZE),
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
                "mask_feather": comfy_input(MASK_FEATHER),
                "precision": run_precision_input(),
                # appended last: saved workflows keep their widget positions
                "style_batch": (
                    STYLE_BATCH_MODES,
                    {
                        "default": "blend",
                        "tooltip": "With several style images (a batch, plus style_2): blend "
                        "them into one style, or give one result per style (the output batch is "
                        "the contents for the first style, then for the second, ...).",
                    },
                ),
                "style_weights": comfy_input(
                    STYLE_WEIGHTS,
                    tooltip="With style_batch = blend: weights of the style batch's images, "
                    "e.g. 0.5,0.3,0.2 (empty = equal).",
                ),
                "palette": comfy_input(PALETTE),
                "wct": comfy_input(WCT),
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
        mask_feather=MASK_FEATHER.default,
        precision="model",
        style_batch="blend",
        style_weights="",
        palette=PALETTE.default,
        wct=WCT.default,
    ):
        check_handle(sct_model)
        if style_batch not in STYLE_BATCH_MODES:
            raise InputError(f"style_batch: expected one of {', '.join(STYLE_BATCH_MODES)}")
        first = style_images(style, style_size)
        count = first.shape[0]
        within = parse_style_weights(style_weights, count, "style_weights", "style image(s)")
        flat = list(first.split(1))
        if style_2 is not None:
            second = style_images(style_2, style_size, "style_2")
            flat += list(second.split(1))
            flat_w = two_group_weights(count, within, second.shape[0], style_2_weight)
        else:
            flat_w = two_group_weights(count, within)
        if not isinstance(content, torch.Tensor) or content.numel() == 0:
            raise InputError("content: the IMAGE batch is empty")
        others = []
        if outside_style is not None:
            if mask is None:
                raise InputError("outside_style needs a mask (it is applied where the mask is 0)")
            others = [style_images(outside_style, style_size, "outside_style")]
        x = cb.image_to_bchw(content)
        b, _, h, w = x.shape
        shapes = [(b, h, w)] + [(1, *s.shape[-2:]) for s in flat + others]
        runs = [(flat, flat_w)] if style_batch == "blend" else [([f], [1.0]) for f in flat]
        result = torch.empty(b * len(runs), h, w, 3, dtype=torch.float32, device=cb.output_device())
        stylizer = make_stylizer(sct_model, precision, shapes)
        progress = cb.progress_callback()
        try:
            outside = stylizer.prepare_style(others[0]) if others else None
            for k, (images, image_weights) in enumerate(runs):
                stylizer.stylize(
                    x,
                    stylizer.prepare_style(images, image_weights),
                    alpha=alpha,
                    palette=palette,
                    wct=wct,
                    preserve_color=preserve_color,
                    mask=mask,
                    outside=outside,
                    feather=mask_feather,
                    progress=lambda d, t, k=k: progress(k * t + d, len(runs) * t),
                    out=result[k * b : (k + 1) * b].permute(0, 3, 1, 2),
                )
        finally:
            release(stylizer)
        return (result,)
