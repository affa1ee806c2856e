"""The SCT_MODEL socket value: a CPU model plus where and how it should run."""

from __future__ import annotations

from dataclasses import dataclass

from ..ccpl_core.models import SCTNet


@dataclass(frozen=True)
class SCTModelHandle:
    """Immutable: ComfyUI caches node outputs and shares them, so nodes never modify it."""

    net: SCTNet  # always kept on the CPU; moved to the GPU only while a node runs
    name: str
    device: str = "auto"  # "auto" (ComfyUI's device), "cpu" or "gpu"
    precision: str = "auto"

    @property
    def mode(self) -> str:
        return self.net.mode

    def __repr__(self) -> str:
        return f"SCTModel({self.name!r}, mode={self.mode}, device={self.device})"
