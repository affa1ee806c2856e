"""Turning what a user typed (a model file, a folder or a manifest name) into weight files."""

from __future__ import annotations

import os
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file

from ..errors import ModelError
from ..models.vgg import ENCODER_DEPTH
from .files import encoder_fingerprint, model_files_in


def default_models_dir() -> Path:
    """``$CCPL_MODELS_DIR``, else ``~/.cache/ccpl/models`` (ComfyUI passes models/sct instead)."""
    env = os.environ.get("CCPL_MODELS_DIR")
    return Path(env) if env else Path.home() / ".cache" / "ccpl" / "models"


def _header(path: Path) -> tuple[list[str], dict[str, str]]:
    try:
        with safe_open(str(path), framework="pt") as fh:
            return list(fh.keys()), dict(fh.metadata() or {})
    except Exception as exc:
        raise ModelError(f"{path}: not a readable safetensors file ({exc})") from exc


def has_part(path: Path, part: str) -> bool:
    """Whether a safetensors file holds tensors of ``part`` (read from its header only)."""
    return any(k.startswith(part + ".") for k in _header(path)[0])


def _fingerprint(path: Path, mode: str | None = None) -> str | None:
    """Fingerprint of the encoder in ``path`` as a model of ``mode`` uses it.

    A photo model uses only the first layers (to relu3_1) of a shared relu4_1 encoder file, and
    records the fingerprint of those layers.
    """
    keys, meta = _header(path)
    if meta.get("ccpl.encoder_fingerprint") and mode != "photo":
        return meta["ccpl.encoder_fingerprint"]
    if any(k.startswith("encoder.") for k in keys):
        depth = ENCODER_DEPTH.get(mode or "art", ENCODER_DEPTH["art"])
        tensors = load_file(str(path))
        return encoder_fingerprint(
            {
                k: v
                for k, v in tensors.items()
                if k.startswith("encoder.") and int(k.split(".")[1]) < depth
            }
        )
    return None


def with_encoder(files: list[Path], search: list[Path]) -> list[Path]:
    """Add the encoder file ``files`` were trained with, when they hold no encoder.

    Candidates are encoder-only files beside the model and in ``search``; the model's recorded
    encoder fingerprint picks among them.
    """
    if any(has_part(f, "encoder") for f in files):
        return files
    wanted = next(
        (fp for f in files if (fp := _header(f)[1].get("ccpl.encoder_fingerprint"))), None
    )
    mode = next((m for f in files if (m := _header(f)[1].get("ccpl.mode"))), None)
    candidates: list[Path] = []
    for folder in [files[0].parent, *search]:
        if folder.is_dir():
            candidates += [
                c
                for c in sorted(folder.glob("*.safetensors"))
                if c not in files
                and c not in candidates
                and has_part(c, "encoder")
                and not has_part(c, "sct")
            ]
    if wanted:
        match = [c for c in candidates if _fingerprint(c, mode) == wanted]
        if match:
            return [match[0], *files]
    elif len(candidates) == 1:
        return [candidates[0], *files]
    where = ", ".join(str(d) for d in [files[0].parent, *search])
    if candidates:
        raise ModelError(
            f"{files[0].name} needs the encoder it was trained with (fingerprint {wanted}); "
            f"none of {', '.join(c.name for c in candidates)} in {where} matches"
        )
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
