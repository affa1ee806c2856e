"""Shared fixtures: tiny random models, real test images, model files on disk."""

from __future__ import annotations

import importlib.util
import os
import sys
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


ROOT = Path(__file__).resolve().parents[1]
FAKE = Path(__file__).parent / "fake_comfy"
FAKE_MODULES = (
    "folder_paths",
    "comfy",
    "comfy.utils",
    "comfy.model_management",
    "comfy.cli_args",
    "comfy_api",
    "comfy_api.latest",
)


@pytest.fixture()
def pack(tmp_path, monkeypatch):
    """The node pack (the repository's __init__.py) imported on the fake ComfyUI in
    tests/fake_comfy, its model folder under tmp_path; fake modules dropped afterwards."""
    models = tmp_path / "models"
    (models / "sct").mkdir(parents=True)
    monkeypatch.setenv("FAKE_COMFY_MODELS", str(models))
    monkeypatch.setenv("CCPL_MODELS_DIR", str(tmp_path / "unused"))
    for name in FAKE_MODULES:
        sys.modules.pop(name, None)
    monkeypatch.syspath_prepend(str(FAKE))
    spec = importlib.util.spec_from_file_location(
        "ccpl_pack", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["ccpl_pack"] = module
    spec.loader.exec_module(module)
    import comfy.model_management as mm
    import comfy.utils as cu

    cu.UPDATES.clear()
    mm.CALLS.clear()
    module.sct_dir = models / "sct"
    module.mm, module.cu = mm, cu
    module.cli_args = sys.modules["comfy.cli_args"].args
    module.folder_paths = sys.modules["folder_paths"]
    yield module
    for name in [n for n in sys.modules if n == "ccpl_pack" or n.startswith("ccpl_pack.")]:
        del sys.modules[name]
    for name in FAKE_MODULES:
        sys.modules.pop(name, None)


@pytest.fixture()
def tiny_model(pack):
    """A random art network saved in the pack's model folder and loaded by its loader node."""
    from ccpl_core.models.untrained import random_sctnet
    from ccpl_core.weights.files import save_sctnet

    net = random_sctnet("art", seed=1)
    save_sctnet(net, pack.sct_dir / "tiny_art.safetensors", include_encoder=True)
    with torch.inference_mode():
        (handle,) = pack.NODE_CLASS_MAPPINGS["LoadSCTModel"]().load(
            "tiny_art.safetensors", "auto", "auto", "fp32"
        )
    return handle, net


@pytest.fixture(scope="session")
def comfyui(tmp_path_factory):
    """One real ComfyUI server for the session (test_comfyui.py, test_browser.py)."""
    import comfy_harness

    if not comfy_harness.comfyui_dir():
        pytest.skip("set COMFYUI_DIR to a ComfyUI checkout (scripts/comfyui.sh makes one)")
    server = comfy_harness.start(
        tmp_path_factory.mktemp("comfy"),
        install_requirements=os.environ.get("CCPL_TEST_INSTALL_REQUIREMENTS", "1") == "1",
    )
    yield server
    server.stop()
