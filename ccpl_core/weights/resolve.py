"""Turning what a user typed (a model file, a folder or a manifest name) into weight files."""

from __future__ import annotations

import os
from pathlib import Path

from safetensors import safe_open

from ..errors import ModelError
from .files import model_files_in


def default_models_dir() -> Path:
    """``$CCPL_MODELS_DIR``, else ``~/.cache/ccpl/models`` (ComfyUI passes models/sct instead)."""
    env = os.environ.get("CCPL_MODELS_DIR")
    return Path(env) if env else Path.home() / ".cache" / "ccpl" / "models"


def has_part(path: Path, part: str) -> bool:
    """Whether a safetensors file holds tensors of ``part`` (read from its header only)."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            return any(k.startswith(part + ".") for k in fh.keys())  # noqa: SIM118 - safe_open is not a dict
    except Exception as exc:
        raise ModelError(f"{path}: not a readable safetensors file ({exc})") from exc


def with_encoder(files: list[Path], search: list[Path]) -> list[Path]:
    """Add an encoder file when ``files`` have none: a sibling file or one in ``search`` dirs."""
    if any(has_part(f, "encoder") for f in files):
        return files
    for folder in [files[0].parent, *search]:
        if not folder.is_dir():
            continue
        for cand in sorted(folder.glob("*.safetensors")):
            if cand not in files and has_part(cand, "encoder") and not has_part(cand, "sct"):
                return [cand, *files]
    where = ", ".join(str(d) for d in [files[0].parent, *search])
    raise ModelError(
        f"{files[0].name} has no encoder weights and no encoder file was found in {where}. "
        "Put the shared encoder file (e.g. vgg_normalised_relu4_1.safetensors) next to it."
    )


def resolve_path(spec: str | os.PathLike, search: list[Path] | None = None) -> list[Path]:
    """Files of a model given as a .safetensors file or a folder of them."""
    p = Path(spec).expanduser()
    if p.is_dir():
        files = model_files_in(p)
    elif p.is_file():
        files = [p]
    else:
        raise ModelError(f"model file or folder not found: {p}")
    return with_encoder(files, search or [])
