"""Training checkpoints: the trainable weights, the CCPL heads and the optimiser's state in one
safetensors file, the iteration and the config in its metadata.

Adam's state is stored as ``optim.<i>.<name>`` tensors (``optim.3.exp_avg``), so a resumed run
continues exactly where the saved one stopped. Files are written atomically.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import torch

from ..errors import ModelError
from ..weights.files import encoder_fingerprint, read_state, save_state
from .config import TrainConfig
from .objectives import TrainModule

KIND = "training-checkpoint"


def training_state(module: TrainModule, optim: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Decoder + SCT (``net.``), the CCPL heads (``ccpl.``) and the optimiser state
    (``optim.``) as tensors; the frozen encoder is left out."""
    state = {
        f"net.{k}": v for k, v in module.net.state_dict().items() if not k.startswith("encoder.")
    }
    state |= {f"ccpl.{k}": v for k, v in module.ccpl.state_dict().items()}
    for idx, st in optim.state_dict()["state"].items():
        for name, value in st.items():
            t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            state[f"optim.{idx}.{name}"] = t.detach().clone()
    return state


def save_checkpoint(
    path: str | os.PathLike,
    module: TrainModule,
    optim: torch.optim.Optimizer,
    cfg: TrainConfig,
    iteration: int,
) -> Path:
    """Write a checkpoint of ``iteration`` to ``path`` (replacing it atomically)."""
    meta = {
        "ccpl.mode": cfg.mode,
        "ccpl.iteration": str(iteration),
        "ccpl.config": json.dumps(dataclasses.asdict(cfg), sort_keys=True),
        "ccpl.kind": KIND,
        "ccpl.encoder_fingerprint": encoder_fingerprint(module.net.encoder.state_dict()),
    }
    return save_state(training_state(module, optim), Path(path), meta, overwrite=True)


def load_checkpoint(
    path: str | os.PathLike,
    module: TrainModule,
    optim: torch.optim.Optimizer,
    cfg: TrainConfig,
) -> int:
    """Load a checkpoint of a run like ``cfg`` into ``module`` and ``optim``; returns its
    iteration. A checkpoint of another stage, mode or decoder freezing is refused."""
    tensors, meta = read_state(path)
    if meta.get("ccpl.kind") != KIND:
        raise ModelError(f"{path} is not a training checkpoint (no optimiser state)")
    config = json.loads(meta.get("ccpl.config") or "{}")
    stage = config.get("stage", "joint")
    if stage != cfg.stage:
        raise ModelError(f"{path} is a checkpoint of stage {stage!r}, not {cfg.stage!r}")
    frozen = bool(config.get("freeze_decoder", False))
    if frozen != cfg.freeze_decoder:  # the optimiser's state is indexed by parameter
        raise ModelError(
            f"{path} is a checkpoint of a run {'with' if frozen else 'without'} a frozen "
            f"decoder; resume it {'with' if frozen else 'without'} `freeze_decoder`"
        )
    if meta.get("ccpl.mode") != cfg.mode:
        raise ModelError(f"{path} is a {meta.get('ccpl.mode')} checkpoint, not {cfg.mode}")
    module.net.load_state_dict(_part(tensors, "net."), strict=False)
    module.ccpl.load_state_dict(_part(tensors, "ccpl."))
    opt = optim.state_dict()
    states: dict[int, dict] = {}
    for key, value in _part(tensors, "optim.").items():
        idx, name = key.split(".", 1)
        states.setdefault(int(idx), {})[name] = value.clone()
    opt["state"] = states
    optim.load_state_dict(opt)
    return int(meta["ccpl.iteration"])


def _part(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}
