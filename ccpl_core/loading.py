"""One entry point to get a ready model from whatever names it: used by the CLI and the nodes."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .errors import ModelError
from .models import SCTNet
from .weights.files import load_sctnet
from .weights.resolve import default_models_dir, resolve_path


def load_model(
    spec: str | os.PathLike,
    mode: str | None = None,
    device: str | torch.device = "cpu",
    models_dir: str | os.PathLike | None = None,
) -> SCTNet:
    """Load a model given as a .safetensors file or a folder of them.

    Files without an encoder are completed with an encoder file found beside them or in
    ``models_dir``.
    """
    folder = Path(models_dir) if models_dir else default_models_dir()
    if not str(spec):
        raise ModelError("no model given")
    files = resolve_path(spec, [folder])
    return load_sctnet(files, mode=mode, device=device)
