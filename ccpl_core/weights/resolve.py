"""Turning what a user typed (a model file, a folder or a manifest name) into weight files."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file

from .. import environment
from ..errors import ModelError
from ..modes import ART, MODES
from .files import encoder_fingerprint, model_files_in

log = logging.getLogger("ccpl")


def default_models_dir() -> Path:
    """``$CCPL_MODELS_DIR``, else ``~/.cache/ccpl/models`` (ComfyUI passes models/sct instead)."""
    return environment.folder("CCPL_MODELS_DIR") or Path.home() / ".cache" / "ccpl" / "models"


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
        depth = MODES.get(mode or "art", ART).encoder_depth
        try:
            tensors = load_file(str(path))
        except Exception as exc:  # a valid header over truncated data
            raise ModelError(f"{path}: not a readable safetensors file ({exc})") from exc
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
            for c in sorted(folder.glob("*.safetensors")):
                if c in files or c in candidates:
                    continue
                keys = _candidate_keys(c)
                if keys is not None and _holds(keys, "encoder") and not _holds(keys, "sct"):
                    candidates.append(c)
    if wanted:
        match = [c for c in candidates if _candidate_fingerprint(c, mode) == wanted]
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


def _holds(keys: list[str], part: str) -> bool:
    return any(k.startswith(part + ".") for k in keys)


def _candidate_keys(path: Path) -> list[str] | None:
    """Tensor names of a file that might be the encoder; None (with a warning) if unreadable.

    Any file beside a model is looked at, so one damaged neighbour (a download cut short, a
    macOS ``._`` metadata file on a shared drive) must not stop the model from loading.
    """
    try:
        return _header(path)[0]
    except ModelError as exc:
        _skip(path, exc)
        return None


def _candidate_fingerprint(path: Path, mode: str | None) -> str | None:
    try:
        return _fingerprint(path, mode)
    except ModelError as exc:
        _skip(path, exc)
        return None


def _skip(path: Path, exc: ModelError) -> None:
    hint = " (macOS Finder metadata: safe to delete)" if path.name.startswith("._") else ""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    log.warning("skipped while looking for an encoder: %s%s", reason, hint)


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
