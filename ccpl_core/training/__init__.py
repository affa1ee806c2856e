"""Training and finetuning of SCT models with the CCPL loss."""

from .data import CropSampler, PairBatches, list_images
from .trainer import TrainConfig, Trainer, TrainModule, export_checkpoint

__all__ = [
    "CropSampler",
    "PairBatches",
    "TrainConfig",
    "TrainModule",
    "Trainer",
    "export_checkpoint",
    "list_images",
]
