"""Reading and writing model weights as safetensors (never pickles), atomically.

A model may be one file or several: typically a shared encoder file plus a decoder+SCT file, so
the encoder is stored once for every model. Metadata keys: ``ccpl.format``, ``ccpl.mode`` and
free-form provenance (``ccpl.source``, ``ccpl.source_sha256``, training details).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from ..errors import ModelError
from ..fsutil import atomic_write
from ..models import SCTNet
from .layout import PARTS, check_part, detect_mode, to_authors

FORMAT_VERSION = "1"


def save_state(
    state: dict[str, torch.Tensor],
    path: str | os.PathLike,
    metadata: dict[str, str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write tensors to ``path`` through a temporary file and an atomic move
    (:func:`ccpl_core.fsutil.atomic_write`: never over an existing file without ``overwrite``).

    Tensors are written contiguous and in sorted key order, so equal inputs give equal bytes.
    """
    p = Path(path)
    if os.path.lexists(p) and not overwrite:
        raise ModelError(f"refusing to overwrite existing file {p}")
    if p.suffix != ".safetensors":
        raise ModelError(f"model files must end in .safetensors, got {p.name}")
    meta = {"ccpl.format": FORMAT_VERSION, **(metadata or {})}
    tensors = {k: state[k].detach().cpu().contiguous() for k in sorted(state)}
    text_meta = {k: str(v) for k, v in meta.items()}
    return atomic_write(
        p, lambda fh: write_safetensors(fh, tensors, text_meta), overwrite=overwrite
    )


_DTYPE_NAMES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def write_safetensors(fh, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Serialise to the safetensors format with a canonical header (sorted keys).

    The reference writer orders metadata through a hash map, so equal inputs could give different
    bytes; a canonical layout makes conversions reproducible to the sha256.
    """
    header: dict[str, object] = {"__metadata__": dict(sorted(metadata.items()))}
    offset = 0
    blobs = []
    for key in sorted(tensors):
        t = tensors[key]
        if t.dtype not in _DTYPE_NAMES:
            raise ModelError(f"cannot store {key} of dtype {t.dtype} in safetensors")
        data = t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        header[key] = {
            "dtype": _DTYPE_NAMES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        offset += len(data)
        blobs.append(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    fh.write(struct.pack("<Q", len(raw)))
    fh.write(raw)
    for blob in blobs:
        fh.write(blob)


def read_state(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors (memory-mapped) and metadata of a safetensors file, with readable errors."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"model file not found: {p}")
    if p.suffix != ".safetensors":
        raise ModelError(
            f"{p.name}: only .safetensors model files are loaded (pickled .pth files can run "
            "code). Convert the authors' checkpoints with `ccpl weights convert`."
        )
    try:
        with safe_open(str(p), framework="pt") as fh:
            metadata = dict(fh.metadata() or {})
        tensors = load_file(str(p))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(
            f"{p}: not a readable safetensors file ({exc}); delete it and download "
            "or convert it again"
        ) from exc
    return tensors, metadata


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def encoder_fingerprint(encoder_state: dict[str, torch.Tensor]) -> str:
    """Identity of an encoder's weights, the same whether stored in fp32 or fp16.

    Decoders only work with the encoder they were trained against; models record this
    fingerprint so the right shared encoder file is picked.
    """
    h = hashlib.sha256()
    state = {k.removeprefix("encoder."): v for k, v in encoder_state.items()}
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].detach().cpu().to(torch.float16).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def model_files_in(folder: str | os.PathLike) -> list[Path]:
    """The .safetensors files of a model folder, encoder files first.

    macOS ``._*`` files (Finder metadata that shared drives show as files) are left out: they
    share the model files' suffix but never hold weights.
    """
    files = sorted(p for p in Path(folder).glob("*.safetensors") if not p.name.startswith("._"))
    if not files:
        raise ModelError(f"no .safetensors files in model folder {folder}")
    return files


def load_sctnet(
    files: Iterable[str | os.PathLike],
    mode: str | None = None,
    device: str | torch.device = "cpu",
) -> SCTNet:
    """Build an :class:`SCTNet` from one or more project-layout safetensors files.

    ``mode`` defaults to the files' metadata (or their shapes); giving a different mode than the
    files hold is an error rather than a silent reinterpretation.
    """
    paths = [Path(f) for f in files]
    if not paths:
        raise ModelError("no model files given")
    merged: dict[str, torch.Tensor] = {}
    origin: dict[str, Path] = {}
    declared: dict[str, Path] = {}
    info: dict[str, str] = {}
    for p in paths:
        tensors, meta = read_state(p)
        if meta.get("ccpl.mode"):
            declared.setdefault(meta["ccpl.mode"], p)
        info |= {k: v for k, v in meta.items() if k.startswith("ccpl.") and k != "ccpl.format"}
        for k, v in tensors.items():
            if k in merged and not torch.equal(merged[k], v):
                raise ModelError(f"{k} is defined differently in {origin[k].name} and {p.name}")
            merged[k] = v
            origin[k] = p
    parts = to_authors(merged)
    found = {detect_mode(parts["sct"], "sct"), *declared}
    found.discard(None)
    if len(found) > 1:
        raise ModelError(f"the model files mix art and photo weights: {', '.join(map(str, paths))}")
    file_mode = found.pop() if found else None
    if mode and file_mode and mode != file_mode:
        raise ModelError(
            f"the model is a {file_mode} model but mode {mode!r} was requested; use mode "
            f"{file_mode!r} or choose a {mode} model"
        )
    mode = mode or file_mode
    if mode is None:
        raise ModelError("cannot tell whether the model is art or photo; pass mode explicitly")
    net = SCTNet(mode)
    names = ", ".join(p.name for p in paths)
    for part in PARTS:
        if not parts[part]:
            raise ModelError(
                f"the model ({names}) has no {part} weights; add the file that holds them "
                "(e.g. the shared encoder) or load it by its manifest name"
            )
        clean = check_part(parts[part], mode, part, names, allow_extra=(part == "encoder"))
        getattr(net, part).load_state_dict(clean)
    net.info = {k.removeprefix("ccpl."): v for k, v in info.items() if k != "ccpl.mode"}
    net.info["files"] = names
    return net.to(device).eval()


def save_sctnet(
    net: SCTNet,
    path: str | os.PathLike,
    metadata: dict[str, str] | None = None,
    include_encoder: bool = False,
    overwrite: bool = False,
) -> Path:
    """Save decoder + SCT (and optionally the encoder) of ``net`` in the project layout."""
    full = net.state_dict()
    state = {k: v for k, v in full.items() if include_encoder or not k.startswith("encoder.")}
    encoder = {k: v for k, v in full.items() if k.startswith("encoder.")}
    meta = {
        "ccpl.mode": net.mode,
        "ccpl.encoder_fingerprint": encoder_fingerprint(encoder),
        **(metadata or {}),
    }
    return save_state(state, path, meta, overwrite=overwrite)
