"""Inference weights from training checkpoints: one checkpoint, or the mean of several.

Averaging the weights of checkpoints along one run (Izmailov et al. 2018, "stochastic weight
averaging") cancels much of the noise of small-batch steps: on this project's CPU, the mean of a
joint run's checkpoints at 50 and 100 iterations had a better held-out texture figure than either
(docs/training_experiments.md). Checkpoints of one run share a starting point, so their mean stays
in the same basin; checkpoints of different modes, parts or encoders are refused.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import ModelError
from ..weights.files import read_state, save_state


def export_checkpoint(
    checkpoint: str | os.PathLike,
    output: str | os.PathLike,
    metadata: dict[str, str] | None = None,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Inference weights (decoder + SCT, no optimiser, no heads) of a training checkpoint.

    ``dtype=torch.float16`` halves the file; loading restores float32.
    """
    return average_checkpoints([checkpoint], output, metadata, dtype)


def average_checkpoints(
    checkpoints: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    metadata: dict[str, str] | None = None,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Inference weights that are the mean (in float32) of the checkpoints' weights.

    Beside checkpoints, the list may hold model files of the same network (e.g. the model the
    run started from, its ``--init``), listed as ``model`` in ``ccpl.averaged``. The metadata is
    the last checkpoint's; with more than one file, ``ccpl.averaged`` lists what was averaged.
    """
    if not checkpoints:
        raise ModelError("no checkpoints to export")
    total: dict[str, torch.Tensor] = {}
    first: dict[str, str] = {}
    last: dict[str, str] = {}
    averaged = []
    for path in checkpoints:
        tensors, meta = read_state(path)
        if meta.get("ccpl.kind") == "training-checkpoint":
            net = {k[4:]: v.float() for k, v in tensors.items() if k.startswith("net.")}
            last = meta
            averaged.append(meta.get("ccpl.iteration", ""))
        elif len(checkpoints) > 1 and "ccpl.mode" in meta:  # e.g. the model a run started from
            net = {k: v.float() for k, v in tensors.items() if not k.startswith("encoder.")}
            averaged.append("model")
        else:
            raise ModelError(f"{path} is not a training checkpoint")
        if not total:
            total, first = net, meta
        else:
            same = ("ccpl.mode", "ccpl.encoder_fingerprint")
            if any(meta.get(k) != first.get(k) for k in same) or net.keys() != total.keys():
                raise ModelError(
                    f"{path} is not a checkpoint of the same model as {checkpoints[0]} "
                    "(mode, encoder or trained parts differ): average one run's checkpoints"
                )
            total = {k: total[k] + net[k] for k in total}
    if not last:
        raise ModelError("no training checkpoint among the files to average")
    state = {k: (v / len(checkpoints)).to(dtype) for k, v in total.items()}
    out_meta = {
        "ccpl.mode": last["ccpl.mode"],
        "ccpl.iterations": last.get("ccpl.iteration", ""),
        "ccpl.config": last.get("ccpl.config", ""),
        "ccpl.kind": "model",
        "ccpl.encoder_fingerprint": last.get("ccpl.encoder_fingerprint", ""),
        **({"ccpl.averaged": ",".join(averaged)} if len(checkpoints) > 1 else {}),
        **(metadata or {}),
    }
    return save_state(state, output, out_meta, overwrite=True)
