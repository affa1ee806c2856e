"""Finetuning a trained model on a user's own style image(s): the CCPLFinetune node and CLI.

Starts from a copy of the model (the caller's model is never touched), trains decoder + SCT with
the CCPL recipe on crops of the given style and content images, and returns a new model plus
metadata describing what it was trained on. Gradients are enabled explicitly, so this also works
inside ComfyUI's inference mode.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ..declared import options_of
from ..errors import InputError
from ..images import to_rgb
from ..models import SCTNet
from .config import TrainConfig
from .data import CropSampler, ImageFiles, PairBatches, tensors_to_uint8
from .trainer import Trainer

#: Presets that work out of the box: (steps, learning rate, crop, batch).
PRESETS = {
    "quick": (300, 1e-4, 256, 4),
    "balanced": (1000, 1e-4, 256, 4),
    "thorough": (3000, 1e-4, 256, 8),
}
PRESET_DEFAULT = "quick"
#: Peak training memory per pixel of a content crop (its style crop, activations kept for the
#: backward pass, losses), measured on the CPU in fp32 and on a GPU, with headroom.
TRAIN_BYTES_PER_PIXEL = 8192


#: ``steps`` is TrainConfig's ``iterations`` under finetune's name.
STEPS = options_of(TrainConfig)["iterations"].but(name="steps")


@dataclass
class FinetuneResult:
    model: SCTNet
    history: list[dict]
    metadata: dict[str, str]
    interrupted: BaseException | None = None


def image_sha256(image: torch.Tensor) -> str:
    """Hash of an image's 8-bit pixels (stable across float/uint8 representations)."""
    rgb, _ = to_rgb(image, "image")
    data = (rgb.clamp(0, 1) * 255).round().to(torch.uint8).contiguous().numpy().tobytes()
    return hashlib.sha256(data).hexdigest()


def _as_uint8_list(images: torch.Tensor | Sequence[torch.Tensor], crop: int, what: str):
    """Float/int images (a batch or a list) -> uint8 [3, h, w] with the shorter side >= crop."""
    batch = [images] if isinstance(images, torch.Tensor) else list(images)
    if not batch:
        raise InputError(f"{what}: no images given")
    out = []
    for i, img in enumerate(batch):
        rgb, _ = to_rgb(img, f"{what} {i + 1}")
        for one in rgb:
            h, w = one.shape[-2:]
            if min(h, w) < 64:
                raise InputError(
                    f"{what} {i + 1}: {w}x{h} is too small to learn from; use at least 64x64"
                )
            if min(h, w) < crop:
                scale = crop / min(h, w)
                size = (max(crop, round(h * scale)), max(crop, round(w * scale)))
                one = F.interpolate(one[None], size=size, mode="bicubic", align_corners=False)[0]
            out += tensors_to_uint8(one[None].clamp(0, 1))
    return out


def training_bytes(net: SCTNet, batch_size: int, crop: int) -> int:
    """Device memory a finetune run needs (a host that shares the device frees this much
    first): float32 weights, gradients and Adam's two moments of the trained parts, plus one
    step's activations."""
    frozen = sum(p.numel() for p in net.encoder.parameters())
    trained = sum(p.numel() for m in (net.decoder, net.sct) for p in m.parameters())
    return 4 * (frozen + 4 * trained) + batch_size * crop * crop * TRAIN_BYTES_PER_PIXEL


def finetune(
    model: SCTNet,
    style: torch.Tensor | Sequence[torch.Tensor],
    content: torch.Tensor | Sequence[torch.Tensor],
    steps: int | None = None,
    lr: float | None = None,
    crop: int | None = None,
    batch_size: int | None = None,
    preset: str = PRESET_DEFAULT,
    content_weight: float = TrainConfig.content_weight,
    style_weight: float = TrainConfig.style_weight,
    ccpl_weight: float = TrainConfig.ccpl_weight,
    seed: int = TrainConfig.seed,
    device: str | torch.device = "auto",
    precision: str = "auto",
    on_step: Callable[[dict], None] | None = None,
    interrupt_types: tuple[type[BaseException], ...] = (KeyboardInterrupt,),
    should_stop: Callable[[], bool] | None = None,
) -> FinetuneResult:
    """Finetune a copy of ``model`` on ``style`` image(s) with ``content`` images.

    ``content`` may be :class:`~ccpl_core.training.data.ImageFiles`: its files are then read
    when a crop needs them, so memory does not grow with their number. ``on_step`` receives each
    step's losses. An exception of ``interrupt_types`` (Ctrl-C, or ComfyUI's interrupt raised
    from ``on_step``) after at least one step ends the run early: the result holds the last
    completed step and the exception in ``interrupted``, so the caller can keep the work and
    then re-raise. ``should_stop`` is asked after each step (a graceful stop: the run ends with
    that step). The numbers are checked by :class:`TrainConfig` (``steps`` as `iterations`),
    the loss weights' defaults are its.
    """
    if preset not in PRESETS:
        raise InputError(f"preset: expected one of {', '.join(PRESETS)}, got {preset!r}")
    p_steps, p_lr, p_crop, p_batch = PRESETS[preset]
    steps = p_steps if steps is None else STEPS.check(steps)
    lr = p_lr if lr is None else lr
    crop = p_crop if crop is None else crop
    batch_size = p_batch if batch_size is None else batch_size
    cfg = TrainConfig(
        mode=model.mode,
        iterations=steps,
        batch_size=batch_size,
        crop=crop,
        lr=lr,
        lr_decay=0.0,
        content_weight=content_weight,
        style_weight=style_weight,
        ccpl_weight=ccpl_weight,
        precision=precision,
        seed=seed,
        save_every=0,
        workers=0,
    )
    cfg.log_every = max(1, cfg.iterations // 50)
    with torch.inference_mode(False), torch.enable_grad():
        styles = _as_uint8_list(style, cfg.crop, "style")
        if isinstance(content, ImageFiles):
            contents = content.at_least(cfg.crop)
        else:
            contents = _as_uint8_list(content, cfg.crop, "content")
        net = copy.deepcopy(model).cpu()
        # parameters may be inference tensors (ComfyUI): rebuild them as normal tensors
        net.load_state_dict({k: v.clone() for k, v in model.state_dict().items()})
        batches = PairBatches(
            CropSampler(contents, cfg.crop, "content"),
            CropSampler(styles, cfg.crop, "style"),
            cfg.batch_size,
            cfg.seed,
        )
        trainer = Trainer(net, cfg, batches, out_dir=None, device=device)
        interrupted: BaseException | None = None
        try:
            trainer.run(on_step=on_step, should_stop=should_stop)
        except interrupt_types as exc:
            if trainer.iteration == 0:
                raise
            interrupted = exc
        result = trainer.module.net.cpu().eval()
        result.requires_grad_(False)
    last = trainer.history[-1] if trainer.history else {}
    meta = {
        "ccpl.kind": "model",
        "ccpl.finetuned_from": model.info.get("name", model.info.get("files", "unknown")),
        "ccpl.style_sha256": ",".join(image_sha256(s) for s in styles),
        "ccpl.steps": str(trainer.iteration),
        "ccpl.finetune": json.dumps(asdict(cfg)),
        "ccpl.final_losses": json.dumps({k: last.get(k) for k in ("content", "style", "ccpl")}),
    }
    result.info = {**model.info, **{k.removeprefix("ccpl."): v for k, v in meta.items()}}
    return FinetuneResult(result, trainer.history, meta, interrupted)
