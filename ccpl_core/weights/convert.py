"""Converting the authors' PyTorch checkpoints to this project's safetensors layout.

The files are opened with ``torch.load(weights_only=True)`` (no code can run), every key and shape
is checked, and the result is written deterministically and atomically, so the same input bytes
always give the same output bytes and sha256 (a published conversion can be checked by anyone).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

from ..errors import ModelError
from ..modes import MODE_NAMES
from .files import save_state, sha256_file
from .layout import from_authors


def read_checkpoint(path: str | os.PathLike, what: str) -> dict[str, torch.Tensor]:
    """A state dict from an authors' .pth/.pth.tar, loaded without unpickling arbitrary code."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{what}: file not found: {p}")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, OSError) as exc:
        raise ModelError(
            f"{what}: {p.name} is not a readable PyTorch checkpoint (truncated download, or not "
            f"a weights file?): {str(exc).splitlines()[0]}"
        ) from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{what}: {p.name} does not hold a plain state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def convert(
    mode: str,
    output_dir: str | os.PathLike,
    vgg: str | os.PathLike | None = None,
    decoder: str | os.PathLike | None = None,
    sct: str | os.PathLike | None = None,
    name: str | None = None,
    overwrite: bool = False,
) -> dict[str, dict]:
    """Write the encoder file (from ``vgg``) and/or the model file (``decoder`` + ``sct``).

    Returns ``{file name: {"sha256", "size", "ccpl.*" metadata}}``; see :func:`manifest_entries`.
    """
    if mode not in MODE_NAMES:
        raise ModelError(f"mode: expected one of {', '.join(MODE_NAMES)}, got {mode!r}")
    if (decoder is None) != (sct is None):
        raise ModelError("give both the decoder and the sct checkpoint (a model needs both)")
    if vgg is None and decoder is None:
        raise ModelError("nothing to convert: give the vgg and/or the decoder with the sct")
    out = Path(output_dir)
    written: dict[str, dict] = {}
    if vgg is not None:
        state = from_authors("art", vgg=read_checkpoint(vgg, "vgg"))  # relu4_1 serves both
        meta = {
            "ccpl.kind": "encoder",
            "ccpl.source": Path(vgg).name,
            "ccpl.source_sha256": sha256_file(vgg),
        }
        path = save_state(state, out / "vgg_normalised_relu4_1.safetensors", meta, overwrite)
        written[path.name] = {"sha256": sha256_file(path), "size": path.stat().st_size, **meta}
    if decoder is not None and sct is not None:
        state = from_authors(
            mode, decoder=read_checkpoint(decoder, "decoder"), sct=read_checkpoint(sct, "sct")
        )
        meta = {
            "ccpl.kind": "model",
            "ccpl.mode": mode,
            "ccpl.source": f"{Path(decoder).name}, {Path(sct).name}",
            "ccpl.source_sha256": f"{sha256_file(decoder)}, {sha256_file(sct)}",
        }
        fname = f"{name or 'ccpl_' + mode}.safetensors"
        path = save_state(state, out / fname, meta, overwrite)
        written[path.name] = {"sha256": sha256_file(path), "size": path.stat().st_size, **meta}
    return written


def manifest_entries(
    written: dict[str, dict],
    mode: str,
    encoder_name: str = "vgg-normalised",
    model_name: str | None = None,
) -> dict[str, dict]:
    """Manifest entries (not yet hosted) describing the files :func:`convert` wrote."""
    entries: dict[str, dict] = {}
    for fname, rec in written.items():
        spec = {"name": fname, "sha256": rec["sha256"], "size": rec["size"]}
        prov = {
            "source": rec["ccpl.source"],
            "source_sha256": rec["ccpl.source_sha256"],
            "convert": "ccpl weights convert",
        }
        if rec["ccpl.kind"] == "encoder":
            entries[encoder_name] = {
                "kind": "encoder",
                "files": [spec],
                "provenance": prov,
                "hub": {"hosted": False},
            }
        else:
            entries[model_name or fname.removesuffix(".safetensors").replace("_", "-")] = {
                "kind": "model",
                "mode": mode,
                "requires": [encoder_name],
                "files": [spec],
                "provenance": prov,
                "hub": {"hosted": False},
            }
    return entries
