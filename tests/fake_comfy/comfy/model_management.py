"""Stand-in for comfy.model_management: CPU device, an interrupt flag, call records."""

import torch

INTERRUPT = {"flag": False, "after_checks": None}
FREED: list = []


class InterruptProcessingException(Exception):
    pass


def get_torch_device():
    return torch.device("cpu")


def intermediate_device():
    return torch.device("cpu")


def free_memory(memory_required, device, keep_loaded=()):
    FREED.append((memory_required, device))


def soft_empty_cache(force=False):
    pass


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
