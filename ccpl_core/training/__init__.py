"""Training and finetuning of SCT models with the CCPL loss."""

from .data import CropSampler, PairBatches, list_images
from .objectives import STAGES, TrainModule
from .trainer import TrainConfig, Trainer, export_checkpoint

__all__ = [
    "STAGES",
    "CropSampler",
    "PairBatches",
    "TrainConfig",
    "TrainModule",
    "Trainer",
    "export_checkpoint",
    "list_images",
]
