"""LoadSCTModel: pick a model from the manifest or the models/sct folder."""

from __future__ import annotations

import os

from ..ccpl_core.errors import ModelError
from ..ccpl_core.loading import load_model
from ..ccpl_core.option_specs import DEVICE, MODE, PRECISION
from . import comfy_bridge as cb
from .handle import SCTModelHandle
from .inputs import comfy_input, tooltip

#: "auto": the model's own mode.
MODES = ("auto", *MODE.choices)
#: "auto": ComfyUI's device (it decides where models run).
DEVICES = (DEVICE.default, "cpu")


class LoadSCTModel:
    """Loads an SCT model (encoder + SCT + decoder) onto the CPU; nodes move it when they run."""

    CATEGORY = "image/style transfer (CCPL)"
    SEARCH_ALIASES = (
        "style transfer model",
        "load style model",
        "sct model",
        "neural style",
        "ccpl",
    )
    RETURN_TYPES = ("SCT_MODEL",)
    RETURN_NAMES = ("sct_model",)
    OUTPUT_TOOLTIPS = (
        "The model; it stays on the CPU and moves to the GPU only while a node runs.",
    )
    FUNCTION = "load"
    DESCRIPTION = "Load a CCPL/SCT style-transfer model (downloaded/verified on first use)."

    @classmethod
    def INPUT_TYPES(cls):
        names = cb.manifest_model_names(available_only=True) + cb.model_file_names()
        return {
            "required": {
                "model_name": (
                    names or ["(no models found)"],
                    {
                        "tooltip": "A model from weights_manifest.json (bundled, present in "
                        "models/sct or downloadable from the Hub; the bundled default comes first) "
                        "or any .safetensors model file in models/sct."
                    },
                ),
                "mode": comfy_input(
                    MODE,
                    choices=MODES,
                    default="auto",
                    tooltip="auto uses the model's own mode; art/photo make a mismatch an error "
                    "instead of a surprise.",
                ),
                "device": comfy_input(
                    DEVICE,
                    choices=DEVICES,
                    tooltip="auto runs on ComfyUI's device (GPU when present); cpu forces the CPU.",
                ),
                "precision": comfy_input(
                    PRECISION,
                    tooltip=f"{tooltip(PRECISION)} On a GPU as ComfyUI decides, so --force-fp32 "
                    "and --force-fp16 apply.",
                ),
            }
        }

    @classmethod
    def IS_CHANGED(cls, model_name, mode, device, precision):
        path = cb.full_path(model_name)
        if path and os.path.exists(path):
            st = os.stat(path)
            return f"{model_name}:{st.st_size}:{st.st_mtime_ns}:{mode}:{device}:{precision}"
        return f"{model_name}:{mode}:{device}:{precision}"

    def load(self, model_name: str, mode: str, device: str, precision: str):
        wanted = None if mode == "auto" else mode
        folder = cb.models_dir()
        path = cb.full_path(model_name)
        if path is None and model_name not in cb.manifest_model_names():
            raise ModelError(
                f"model {model_name!r} is neither in weights_manifest.json nor a file in "
                f"{folder}; refresh the node list (R) or put the file there"
            )
        net = load_model(path or model_name, mode=wanted, device="cpu", models_dir=folder)
        return (SCTModelHandle(net=net, name=model_name, device=device, precision=precision),)
