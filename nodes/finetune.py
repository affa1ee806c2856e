"""CCPLFinetune: train a copy of a model on the user's style image(s) inside a workflow."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ..ccpl_core.errors import InputError
from ..ccpl_core.option_specs import (
    BATCH_SIZE,
    CCPL_WEIGHT,
    CONTENT_WEIGHT,
    CROP_SIZE,
    LEARNING_RATE,
    SEED,
    STEPS,
    STYLE_WEIGHT,
)
from ..ccpl_core.training.finetune import finetune, training_bytes
from ..ccpl_core.training.plot import loss_curve
from ..ccpl_core.weights.files import save_sctnet
from . import comfy_bridge as cb
from .handle import SCTModelHandle
from .inputs import comfy_input

log = logging.getLogger("ccpl")


def _unique_path(folder: Path, name: str) -> Path:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "ccpl_finetuned"
    stem = stem.removesuffix(".safetensors")
    k = 1
    while (path := folder / f"{stem}_{k:05d}.safetensors").exists():
        k += 1
    return path


class CCPLFinetune:
    """Finetunes decoder + SCT on your style; outputs a new model and its loss curve."""

    CATEGORY = "image/style transfer (CCPL)"
    SEARCH_ALIASES = (
        "style transfer",
        "train style",
        "finetune style",
        "custom style",
        "neural style",
        "ccpl",
    )
    RETURN_TYPES = ("SCT_MODEL", "IMAGE")
    RETURN_NAMES = ("sct_model", "loss_curve")
    OUTPUT_TOOLTIPS = (
        "The finetuned model (also saved to models/sct unless save_name is empty).",
        "The losses against the step, as an image.",
    )
    FUNCTION = "finetune"
    OUTPUT_NODE = True
    DESCRIPTION = (
        "Finetune a model on one or a few style images and a set of content images; "
        "the result is saved to models/sct and appears in Load Style Transfer Model."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "sct_model": ("SCT_MODEL", {"tooltip": "Model to start from (left unchanged)."}),
                "style": ("IMAGE", {"tooltip": "Your style image(s)."}),
                "content": (
                    "IMAGE",
                    {
                        "tooltip": "Content images or video frames to train on "
                        "(a few dozen varied images work best)."
                    },
                ),
                "steps": comfy_input(
                    STEPS, tooltip=f"Optimisation steps ({STEPS.default} is a quick GPU run)."
                ),
                "learning_rate": comfy_input(LEARNING_RATE, round=False),
                "content_weight": comfy_input(CONTENT_WEIGHT),
                "style_weight": comfy_input(STYLE_WEIGHT),
                "ccpl_weight": comfy_input(CCPL_WEIGHT),
                "crop_size": comfy_input(CROP_SIZE),
                "batch_size": comfy_input(BATCH_SIZE),
                # the frontend would randomise an INT named seed after every run, so each Queue
                # would retrain and save another file
                "seed": comfy_input(
                    SEED,
                    control_after_generate="fixed",
                    tooltip="Seed of the crop sampling (kept fixed: change it to retrain).",
                ),
                "save_name": (
                    "STRING",
                    {
                        "default": "ccpl_finetuned",
                        "tooltip": "File name in models/sct (a number is appended; never "
                        "overwrites). Empty = do not save.",
                    },
                ),
            }
        }

    def finetune(
        self,
        sct_model,
        style,
        content,
        steps,
        learning_rate,
        content_weight,
        style_weight,
        ccpl_weight,
        crop_size,
        batch_size,
        seed,
        save_name,
    ):
        if not isinstance(sct_model, SCTModelHandle):
            raise InputError("sct_model: connect the output of a Load Style Transfer Model node")
        progress = cb.progress_callback(steps)

        def on_step(losses: dict) -> None:
            progress(int(losses["iteration"]), steps)

        device = cb.torch_device(sct_model.device)
        cb.free_memory_for(device, training_bytes(sct_model.net, batch_size, crop_size))
        try:
            result = finetune(
                sct_model.net,
                cb.image_to_bchw(style),
                cb.image_to_bchw(content),
                steps=steps,
                lr=learning_rate,
                crop=crop_size,
                batch_size=batch_size,
                content_weight=content_weight,
                style_weight=style_weight,
                ccpl_weight=ccpl_weight,
                seed=seed,
                device=device,
                precision=cb.run_precision(device, sct_model.precision),
                on_step=on_step,
                interrupt_types=(KeyboardInterrupt, cb.interrupt_exception()),
            )
            if result.interrupted is not None:
                # its traceback holds the trainer's frames and so its device tensors; it is
                # re-raised below without them
                result.interrupted.__traceback__ = None
        finally:
            cb.cleanup()  # the trainer is gone; the new model is on the CPU
        saved = None
        if save_name.strip():
            saved = _unique_path(cb.models_dir(), save_name.strip())
            save_sctnet(result.model, saved, result.metadata, include_encoder=True)
        if result.interrupted is not None:
            raise result.interrupted  # stop the workflow; the last good state is saved
        handle = SCTModelHandle(
            net=result.model,
            name=saved.name if saved else "finetuned",
            device=sct_model.device,
            precision=sct_model.precision,
        )
        where = f"saved as models/sct/{saved.name}" if saved else "not saved (save_name is empty)"
        curve = cb.bchw_to_image(loss_curve(result.history, title=f"CCPL finetune: {where}"))
        log.info("Style Transfer Finetune: %s", saved or "not saved")
        return {
            "ui": {"images": cb.preview(curve, "ccpl_finetune_loss"), "text": [where]},
            "result": (handle, curve),
        }
