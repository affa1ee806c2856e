"""Stand-in for comfy.model_management: a device, memory and precision answers, call records.

``CALLS`` records in order what the pack asks: ("free_memory", bytes, device, bytes allocated on
that device at the time: None unless CUDA), ("soft_empty_cache",), ("get_free_memory", device),
("should_use_bf16", device), ("should_use_fp16", device). ``STATE`` is what ComfyUI would answer
(a fresh module per test).
"""

import torch

from comfy.cli_args import args

INTERRUPT = {"flag": False, "after_checks": None}
CALLS: list = []
STATE = {
    "device": torch.device("cpu"),
    "intermediate": torch.device("cpu"),
    "free": 8 * 2**30,
    "reserved": 400 * 2**20,  # ComfyUI's default on Linux; --reserve-vram replaces it
    "bf16": True,  # what the "GPU" supports
    "fp16": True,
}


class InterruptProcessingException(Exception):
    pass


def get_torch_device():
    return STATE["device"]


def intermediate_device():
    return STATE["intermediate"]


def get_free_memory(dev=None, torch_free_too=False):
    CALLS.append(("get_free_memory", dev))
    free = STATE["free"]
    return (free, 0) if torch_free_too else free


def extra_reserved_memory():
    return STATE["reserved"]


def minimum_inference_memory():
    return 0.8 * 2**30 + extra_reserved_memory()


def free_memory(memory_required, device, keep_loaded=()):
    on_gpu = torch.cuda.memory_allocated(device) if device.type == "cuda" else None
    CALLS.append(("free_memory", memory_required, device, on_gpu))
    return []


def soft_empty_cache(force=False):
    CALLS.append(("soft_empty_cache",))


def should_use_fp16(device=None, model_params=0, prioritize_performance=True, manual_cast=False):
    CALLS.append(("should_use_fp16", device))
    if device is not None and device.type == "cpu":
        return False
    if args.force_fp16:
        return True
    return not args.force_fp32 and STATE["fp16"]


def should_use_bf16(device=None, model_params=0, prioritize_performance=True, manual_cast=False):
    CALLS.append(("should_use_bf16", device))
    if device is not None and device.type == "cpu":
        return False
    return not args.force_fp32 and STATE["bf16"]


def throw_exception_if_processing_interrupted():
    n = INTERRUPT["after_checks"]
    if n is not None:
        INTERRUPT["after_checks"] = n - 1
        if n - 1 <= 0:
            INTERRUPT["flag"] = True
    if INTERRUPT["flag"]:
        INTERRUPT["flag"] = False
        INTERRUPT["after_checks"] = None
        raise InterruptProcessingException()
