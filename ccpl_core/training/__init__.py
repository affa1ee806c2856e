"""Training and finetuning of SCT models with the CCPL loss."""

from .data import CropSampler, PairBatches, list_images
from .export import average_checkpoints, export_checkpoint
from .objectives import STAGES, TrainModule
from .trainer import TrainConfig, Trainer

__all__ = [
    "STAGES",
    "CropSampler",
    "PairBatches",
    "TrainConfig",
    "TrainModule",
    "Trainer",
    "average_checkpoints",
    "export_checkpoint",
    "list_images",
]
