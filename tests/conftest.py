"""Shared fixtures: tiny random models, real test images, model files on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import image

from ccpl_core.models.untrained import random_sctnet
from ccpl_core.weights import save_sctnet

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def art_net():
    return random_sctnet("art", seed=1).eval()


@pytest.fixture(scope="session")
def photo_net():
    return random_sctnet("photo", seed=2).eval()


@pytest.fixture(scope="session")
def content() -> torch.Tensor:
    return image("astronaut")


@pytest.fixture(scope="session")
def style() -> torch.Tensor:
    return image("hubble")


@pytest.fixture()
def art_model_file(tmp_path, art_net) -> Path:
    return save_sctnet(art_net, tmp_path / "models" / "tiny_art.safetensors", include_encoder=True)
