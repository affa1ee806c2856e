"""Everything that touches ComfyUI itself: folders, devices, progress, interrupts, images."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import comfy.model_management as mm
import comfy.utils
import folder_paths
import torch
from comfy.cli_args import args as comfy_args

from ..ccpl_core.errors import CCPLError, InputError
from ..ccpl_core.modes import MODE_NAMES
from ..ccpl_core.runtime import memory_budget
from ..ccpl_core.weights.hub import STAGING
from ..ccpl_core.weights.manifest import load_manifest
from ..ccpl_core.weights.store import obtainable

log = logging.getLogger("ccpl")

FOLDER = "sct"


def register_models_folder() -> None:
    """models/sct, appended so a user's extra_model_paths.yaml entries are kept."""
    folder_paths.add_model_folder_path(FOLDER, os.path.join(folder_paths.models_dir, FOLDER))
    paths, exts = folder_paths.folder_names_and_paths[FOLDER]
    exts = set(exts) | {".safetensors"}
    folder_paths.folder_names_and_paths[FOLDER] = (paths, exts)


def models_dir() -> Path:
    """Where downloads go: the first sct folder (created on demand)."""
    folder = Path(folder_paths.get_folder_paths(FOLDER)[0])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def manifest_model_names(available_only: bool = False) -> list[str]:
    """Manifest models, the default art then photo model first (ComfyUI preselects the first).

    ``available_only`` leaves out entries whose files are neither present nor downloadable.
    """
    try:
        man = load_manifest()
    except CCPLError as exc:
        log.warning("ComfyUI-CCPL: cannot read the model manifest: %s", exc)
        return []
    names = [e.name for e in man.models()]
    if available_only:
        folder = models_dir()
        names = [n for n in names if obtainable(man, n, folder)]
    first = [man.default[m] for m in MODE_NAMES if man.default.get(m) in names]
    return first + [n for n in names if n not in first]


def model_file_names() -> list[str]:
    """.safetensors files in the sct folders, minus the shared encoders listed in the manifest."""
    try:
        encoders = {
            f.name for e in load_manifest().entries.values() if e.kind == "encoder" for f in e.files
        }
    except CCPLError as exc:
        log.warning("ComfyUI-CCPL: cannot read the model manifest: %s", exc)
        encoders = set()
    return [
        n
        for n in folder_paths.get_filename_list(FOLDER)
        # ComfyUI lists sub-folders too: a download interrupted before its final rename leaves
        # a file in the staging folder, which is not a model yet
        if Path(n).name not in encoders and STAGING not in Path(n).parts
    ]


def full_path(name: str) -> str | None:
    return folder_paths.get_full_path(FOLDER, name)


def torch_device(choice: str) -> torch.device:
    """ComfyUI's device as it gives it (CUDA, XPU, MPS, DirectML...), or the CPU when forced."""
    if choice == "cpu":
        return torch.device("cpu")
    return mm.get_torch_device()


def output_device() -> torch.device:
    return mm.intermediate_device()


def run_precision(device: torch.device, precision: str) -> str:
    """The precision to run at on ``device``: ``auto`` is decided as ComfyUI decides for its own
    models, so --force-fp32 and --force-fp16 apply; explicit choices are kept.

    bf16 comes first where ComfyUI allows it (fp16 overflows more easily), unless --force-fp16.
    On the CPU ComfyUI never picks a half type (its own comment: bf16 is slow there); the core's
    policy is kept instead (bf16 only with native bf16 instructions, where it was measured about
    twice as fast), with --force-fp32 still honoured.
    """
    if precision != "auto":
        return precision
    if getattr(comfy_args, "force_fp32", False):
        return "fp32"
    if device.type == "cpu":
        return "auto"
    if getattr(comfy_args, "force_fp16", False) and mm.should_use_fp16(device):
        return "fp16"
    if mm.should_use_bf16(device):
        return "bf16"
    if mm.should_use_fp16(device):
        return "fp16"
    return "fp32"


def memory_budget_for(device: torch.device, model_bytes: int) -> int:
    """Bytes one stylisation step may use on ``device`` (the core plans chunks and tiles to it).

    On an accelerator: what ComfyUI reports free (which counts torch's cached blocks) minus the
    memory it keeps in reserve (--reserve-vram) and the model about to be loaded, with 20 %
    headroom; at least ComfyUI's own minimum inference memory, which it frees for us. So a run
    uses what is free without evicting anything, and evicts only for one modest step. The CPU, and
    a CCPL_MEMORY_BUDGET_MB override, keep the core's policy.
    """
    if device.type == "cpu" or os.environ.get("CCPL_MEMORY_BUDGET_MB"):
        return memory_budget(device)
    reserved = mm.extra_reserved_memory()
    floor = mm.minimum_inference_memory() - reserved
    usable = mm.get_free_memory(device) - reserved - model_bytes
    return int(max(floor, 0.8 * usable))


def free_memory_for(device: torch.device, bytes_needed: int) -> None:
    """Ask ComfyUI to unload other models until ``bytes_needed`` (plus the memory it keeps in
    reserve, --reserve-vram) are free on ``device``. Call it before moving anything there."""
    if device.type != "cpu":
        mm.free_memory(bytes_needed + mm.extra_reserved_memory(), device)


def cleanup() -> None:
    """Give cached device memory back after a run (drop references to device tensors first).

    ComfyUI's soft_empty_cache knows its backend (CUDA, XPU, MPS...) and does nothing without one.
    """
    mm.soft_empty_cache()


def progress_callback(total_hint: int = 1) -> Callable[[int, int], None]:
    """A (done, total) callback driving a ComfyUI progress bar; raises on user interrupt."""
    bar = comfy.utils.ProgressBar(max(1, total_hint))

    def update(done: int, total: int) -> None:
        mm.throw_exception_if_processing_interrupted()
        bar.update_absolute(done, total)

    return update


def check_interrupt() -> None:
    mm.throw_exception_if_processing_interrupted()


def interrupt_exception() -> type[BaseException]:
    return mm.InterruptProcessingException


def image_to_bchw(image: torch.Tensor) -> torch.Tensor:
    """ComfyUI IMAGE [B, H, W, C] -> [B, C, H, W] (a view; no copy)."""
    if image.dim() == 3:
        image = image[None]
    if image.dim() != 4:
        raise ValueError(f"expected an IMAGE [B,H,W,C], got shape {tuple(image.shape)}")
    return image.permute(0, 3, 1, 2)


def bchw_to_image(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1).contiguous()


def preview(image: torch.Tensor, prefix: str) -> list[dict]:
    """Save an IMAGE batch to ComfyUI's temp folder; the ``ui.images`` entries that show it."""
    from PIL import Image

    folder = Path(folder_paths.get_temp_directory())
    folder.mkdir(parents=True, exist_ok=True)
    shown = []
    for frame in image:
        k = 0
        while (folder / f"{prefix}_{k:05d}.png").exists():
            k += 1
        name = f"{prefix}_{k:05d}.png"
        pixels = (frame.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
        Image.fromarray(pixels).save(folder / name)
        shown.append({"filename": name, "subfolder": "", "type": "temp"})
    return shown


def video_file(video: object) -> tuple[Path, Path | None]:
    """A file to stream a core VIDEO from, and the temporary copy to remove afterwards (if any).

    Load Video's VIDEO is a file already (read in place, never loaded whole); a VIDEO held in
    memory (an upload, Create Video's frames) is written once to ComfyUI's temp folder.
    """
    source = getattr(video, "get_stream_source", None)
    if source is None:
        raise InputError(
            f"video: expected a VIDEO (from Load Video or Create Video), got {type(video).__name__}"
        )
    stream = source()
    if isinstance(stream, (str, os.PathLike)):
        return Path(stream), None
    copy = temp_file("ccpl_source", ".video")
    with open(copy, "xb") as out:
        stream.seek(0)
        shutil.copyfileobj(stream, out, 1 << 20)
    return copy, copy


def temp_file(prefix: str, suffix: str) -> Path:
    """A new name in ComfyUI's temp folder (emptied when ComfyUI starts)."""
    folder = Path(folder_paths.get_temp_directory())
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{prefix}_{uuid.uuid4().hex[:12]}{suffix}"


def video_from_file(path: Path) -> object:
    """A core VIDEO reading ``path`` lazily (Save Video copies its streams, audio included)."""
    from comfy_api.latest import InputImpl

    return InputImpl.VideoFromFile(str(path))
