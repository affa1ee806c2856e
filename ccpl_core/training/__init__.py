"""Training and finetuning of SCT models with the CCPL loss."""

from .config import SCT_TARGETS, STAGES, TrainConfig
from .data import CropSampler, PairBatches, list_images
from .export import average_checkpoints, export_checkpoint
from .objectives import TrainModule
from .trainer import Trainer

__all__ = [
    "SCT_TARGETS",
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
