"""One entry point to get a ready model from whatever names it: used by the CLI and the nodes."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .errors import ModelError
from .models import SCTNet
from .weights.files import load_sctnet
from .weights.hub import download
from .weights.manifest import load_manifest
from .weights.resolve import default_models_dir, resolve_path
from .weights.store import locate


def load_model(
    spec: str | os.PathLike | None = None,
    mode: str | None = None,
    device: str | torch.device = "cpu",
    models_dir: str | os.PathLike | None = None,
    manifest: str | os.PathLike | None = None,
    allow_download: bool = True,
) -> SCTNet:
    """Load a model given as a manifest name, a .safetensors file or a folder of them.

    ``None`` means the manifest's default model for ``mode`` (art by default). Missing files of
    hosted manifest entries are downloaded (verified) into ``models_dir``. Files without an
    encoder are completed with the encoder they were trained with, found beside them or in
    ``models_dir``.
    """
    folder = Path(models_dir) if models_dir else default_models_dir()
    if spec is None or str(spec) == "":
        man = load_manifest(manifest)
        spec = man.default_model(mode or "art")
    if _looks_like_path(spec):
        files = resolve_path(spec, [folder])
        net = load_sctnet(files, mode=mode, device=device)
    else:
        man = load_manifest(manifest)
        entry = man.get(str(spec))
        if entry.kind != "model":
            raise ModelError(f"{spec!r} is an encoder entry, not a model")
        files = locate(man, entry.name, folder, downloader=download if allow_download else None)
        net = load_sctnet(files, mode=mode, device=device)
        net.info["name"] = entry.name
    net.info.setdefault("name", Path(str(spec)).stem)
    return net


def _looks_like_path(spec: str | os.PathLike) -> bool:
    text = str(spec)
    return (
        isinstance(spec, os.PathLike)
        or text.endswith(".safetensors")
        or os.sep in text
        or (Path(text).exists())
    )
