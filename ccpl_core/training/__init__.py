"""Training and finetuning of SCT models with the CCPL loss."""

from .data import CropSampler, PairBatches, list_images
from .trainer import TrainConfig, Trainer, TrainModule

__all__ = ["CropSampler", "PairBatches", "TrainConfig", "TrainModule", "Trainer", "list_images"]
