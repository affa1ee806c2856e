"""Device, precision and memory policy: where and how fast the network runs.

``fp32`` is exact. ``auto`` (the "fast" mode) picks bf16 on GPUs that support it (fp16 otherwise)
and bf16 on CPUs with native bf16 instructions (AVX512-BF16 / AMX), else fp32.
"""

from __future__ import annotations

import argparse
import math
import os

import torch

from .errors import InputError
from .options import finite_float

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` -> CUDA if available, then MPS, else CPU; a named device is checked to exist."""
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise InputError(f"device: unknown device {device!r}; use auto, cpu or cuda") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(
            "device: CUDA was requested but this PyTorch has no usable CUDA GPU; choose "
            "`device` cpu (or auto), or install a CUDA build of PyTorch"
        )
    return dev


def cpu_has_fast_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16 or AMX).

    oneDNN also "supports" bf16 on plain AVX-512 by emulation, which was measured ~3x slower than
    float32 for stylisation (and 2.7x for training): that does not count as fast.
    """
    native = [
        getattr(torch.cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    ]
    if any(callable(f) for f in native):
        return any(bool(f()) for f in native if callable(f))
    try:  # older torch: oneDNN's own answer
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """Compute dtype of the encoder and decoder for a precision name on a device."""
    if precision not in PRECISIONS:
        raise InputError(f"precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return _DTYPES[precision]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


#: Environment variable that sets the memory budget, in MiB.
MEMORY_BUDGET_ENV = "CCPL_MEMORY_BUDGET_MB"


def memory_budget(device: torch.device, requested: int | None = None) -> int:
    """Bytes the stylisation of one tile may use.

    ``requested`` wins, then the CCPL_MEMORY_BUDGET_MB environment variable; the default is 80 % of
    free GPU memory, or on CPU half the available RAM capped at 1.5 GiB (so 4K stays under 4 GB).
    A budget that is not a finite positive amount is refused: it would silently mean "as small as
    possible" (the slowest tiling) or fail later with an overflow.
    """
    if requested:
        try:
            amount = float(requested)
        except (TypeError, ValueError):
            amount = math.nan
        if not (math.isfinite(amount) and amount > 0):
            raise InputError(
                f"memory budget: expected a positive number of bytes, got {requested!r}"
            )
        return int(requested)
    env = os.environ.get(MEMORY_BUDGET_ENV)
    if env:
        try:
            mib = finite_float(0, low_open=True)(env)
        except argparse.ArgumentTypeError:
            raise InputError(
                f"{MEMORY_BUDGET_ENV}={env!r} is not a memory budget: expected a finite number "
                "of MiB above 0 (e.g. 2048); fix it or unset it"
            ) from None
        return max(1, int(mib * 2**20))
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free * 0.8)
    return int(min(1.5 * 2**30, 0.5 * _available_ram()))


def _available_ram() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 2**30


def is_oom(exc: BaseException) -> bool:
    """Whether an exception is an out-of-memory failure on any device."""
    if isinstance(exc, torch.OutOfMemoryError | MemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )


def empty_cache(device: torch.device) -> None:
    """Return cached blocks to the driver (after an out-of-memory error) on CUDA, MPS or XPU."""
    backend = getattr(torch, device.type, None) if device.type in ("cuda", "mps", "xpu") else None
    if backend is not None and hasattr(backend, "empty_cache"):
        backend.empty_cache()
