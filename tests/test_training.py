"""Training loop, checkpoints, resume, finetuning and the train/finetune commands."""

from __future__ import annotations

import pytest
import torch
from helpers import DATA, PHOTOS, image, make_trainer, samplers

from ccpl_core import InputError, ModelError, load_model
from ccpl_core.cli import main
from ccpl_core.losses import style_loss
from ccpl_core.models import SCTNet
from ccpl_core.models.untrained import random_sctnet
from ccpl_core.training import (
    CropSampler,
    PairBatches,
    TrainConfig,
    Trainer,
    average_checkpoints,
    export_checkpoint,
)
from ccpl_core.training.finetune import finetune
from ccpl_core.weights.files import read_state, save_state
from ccpl_core.weights.vgg_import import build_encoder


def _fixed_batch_loss(t: Trainer) -> float:
    c, s = t.batches[10_000]
    with torch.no_grad():
        losses = t.module(c.float() / 255, s.float() / 255, torch.Generator().manual_seed(0))
    return float(losses["content"] + 10 * losses["style"] + 5 * losses["ccpl"])


def test_short_run_lowers_the_loss(tmp_path):
    t = make_trainer(tmp_path, iterations=30, lr=3e-4)
    before = _fixed_batch_loss(t)
    history = t.run()
    assert _fixed_batch_loss(t) < 0.9 * before
    assert all(h["finite"] for h in history)
    assert (tmp_path / "latest.safetensors").exists()
    assert (tmp_path / "log.jsonl").read_text().count("\n") == 30


def test_resume_equals_uninterrupted(tmp_path):
    full = make_trainer(tmp_path / "a", iterations=6)
    full.run()
    part = make_trainer(tmp_path / "b", iterations=6)
    part.run(until=3)
    resumed = make_trainer(tmp_path / "c", iterations=6)
    resumed.load_checkpoint(tmp_path / "b" / "latest.safetensors")
    assert resumed.iteration == 3
    resumed.run()
    a, b = full.module.state_dict(), resumed.module.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert full.history[-1]["total"] == pytest.approx(resumed.history[-1]["total"], rel=1e-5)


def test_interrupt_leaves_last_checkpoint_loadable(tmp_path):
    t = make_trainer(tmp_path, iterations=10)

    def stop(losses):
        if losses["iteration"] == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        t.run(on_step=stop)
    _, meta = read_state(tmp_path / "latest.safetensors")
    assert meta["ccpl.iteration"] == "3"  # the last complete checkpoint, intact
    assert not list(tmp_path.glob(".*partial"))
    fresh = make_trainer(tmp_path / "x", iterations=10)
    fresh.load_checkpoint(tmp_path / "latest.safetensors")
    assert fresh.iteration == 3


def test_export_and_load_inference_model(tmp_path, art_net):
    t = make_trainer(tmp_path, iterations=3)
    t.run()
    out = export_checkpoint(
        tmp_path / "latest.safetensors", tmp_path / "m" / "model.safetensors", dtype=torch.float16
    )
    tensors, _ = read_state(out)
    assert all(v.dtype == torch.float16 for v in tensors.values())
    assert not any(k.startswith(("optim.", "ccpl.", "encoder.")) for k in tensors)
    enc = {k: v for k, v in t.module.net.state_dict().items() if k.startswith("encoder.")}
    save_state(enc, tmp_path / "m" / "encoder.safetensors")
    net = load_model(out)
    ref = t.module.net.state_dict()
    assert torch.allclose(
        net.state_dict()["decoder.28.weight"], ref["decoder.28.weight"], atol=1e-3
    )
    assert net.state_dict()["decoder.28.weight"].dtype == torch.float32


def test_keep_every_keeps_numbered_checkpoints_between_saves(tmp_path):
    t = make_trainer(tmp_path, iterations=6, keep_every=2)  # saves every 3
    t.run()
    kept = sorted(p.name for p in tmp_path.glob("iter_*.safetensors"))
    assert kept == ["iter_0000002.safetensors", "iter_0000004.safetensors"]
    assert read_state(tmp_path / kept[0])[1]["ccpl.iteration"] == "2"


def test_warmup_raises_the_lr_linearly_then_the_decay_takes_over(tmp_path):
    t = make_trainer(tmp_path, iterations=3, lr=1e-3, lr_decay=0.5, warmup=4)
    assert [t.lr_at(i) for i in range(3)] == pytest.approx([2.5e-4, 5e-4 / 1.5, 7.5e-4 / 2])
    assert t.lr_at(3) == pytest.approx(1e-3 / 2.5) and t.lr_at(8) == pytest.approx(1e-3 / 5)
    plain = make_trainer(tmp_path / "p", iterations=1, lr=1e-3, lr_decay=0.5)
    assert plain.lr_at(0) == pytest.approx(1e-3)
    history = t.run()
    assert [h["lr"] for h in history] == pytest.approx([2.5e-4, 5e-4 / 1.5, 7.5e-4 / 2])
    with pytest.raises(InputError, match="warmup"):
        TrainConfig(warmup=-1).validate()


def test_averaged_checkpoints_are_the_mean_of_one_runs_weights(tmp_path):
    t = make_trainer(tmp_path, iterations=6, keep_every=3, lr=1e-3)
    t.run()
    ckpts = [tmp_path / "iter_0000003.safetensors", tmp_path / "latest.safetensors"]  # 3, 6
    out = average_checkpoints(ckpts, tmp_path / "m" / "model.safetensors")
    got, meta = read_state(out)
    a, b = (read_state(c)[0] for c in ckpts)
    key = "decoder.28.weight"
    assert not torch.equal(a["net." + key], b["net." + key])  # the run moved between them
    assert torch.allclose(got[key], (a["net." + key] + b["net." + key]) / 2)
    assert meta["ccpl.averaged"] == "3,6" and meta["ccpl.iterations"] == "6"
    assert (
        "ccpl.averaged"
        not in read_state(export_checkpoint(ckpts[1], tmp_path / "e.safetensors"))[1]
    )
    start = export_checkpoint(ckpts[0], tmp_path / "start.safetensors")  # a model file
    got, meta = read_state(average_checkpoints([start, ckpts[1]], tmp_path / "s.safetensors"))
    assert torch.allclose(got[key], (a["net." + key] + b["net." + key]) / 2)
    assert meta["ccpl.averaged"] == "model,6" and meta["ccpl.iterations"] == "6"
    with pytest.raises(ModelError, match="no training checkpoint"):
        average_checkpoints([start, start], tmp_path / "t.safetensors")
    with pytest.raises(ModelError, match="not a training checkpoint"):
        export_checkpoint(start, tmp_path / "again.safetensors")  # one model file: no run
    other = make_trainer(tmp_path / "photo", iterations=1)
    other.run()  # same parts, another encoder: not one run's checkpoints
    tensors, meta = read_state(tmp_path / "photo" / "latest.safetensors")
    meta["ccpl.encoder_fingerprint"] = "another"
    save_state(tensors, tmp_path / "other.safetensors", meta)
    with pytest.raises(ModelError, match="same model"):
        average_checkpoints([ckpts[0], tmp_path / "other.safetensors"], tmp_path / "x.safetensors")


def test_encoder_fingerprint_picks_the_right_shared_encoder(tmp_path):
    t = make_trainer(tmp_path, iterations=1)
    t.run()
    out = export_checkpoint(tmp_path / "latest.safetensors", tmp_path / "m" / "model.safetensors")
    right = {k: v for k, v in t.module.net.state_dict().items() if k.startswith("encoder.")}
    wrong = {k: v + 1 for k, v in right.items()}
    save_state(wrong, tmp_path / "m" / "a_other_encoder.safetensors")
    with pytest.raises(ModelError, match="needs the encoder it was trained with"):
        load_model(out)
    save_state(right, tmp_path / "m" / "b_encoder.safetensors")
    net = load_model(out)
    assert torch.equal(net.encoder.state_dict()["0.bias"], right["encoder.0.bias"])


def test_checkpoint_of_other_mode_or_kind_rejected(tmp_path, art_model_file):
    t = make_trainer(tmp_path, iterations=1)
    with pytest.raises(ModelError, match="not a training checkpoint"):
        t.load_checkpoint(art_model_file)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"iterations": 0}, "`iterations`: .*>= 1"),
        ({"lr": 0.0}, "`lr`: .*> 0"),
        ({"lr": -1.0}, "`lr`"),
        ({"crop": 30}, "crop"),
        ({"style_weight": -1.0}, "style_weight"),
    ],
)
def test_bad_config(kw, match):
    with pytest.raises(InputError, match=match):
        TrainConfig(**kw).validate()


def test_sampler_rejects_images_smaller_than_crop():
    with pytest.raises(InputError, match="smaller than the crop"):
        CropSampler([torch.zeros(3, 50, 80, dtype=torch.uint8)], 64, "style")


def test_batches_are_a_function_of_iteration():
    c, s = samplers()
    ds = PairBatches(c, s, 2, seed=5)
    a, b = ds[7], ds[7]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(ds[8][0], a[0])


def test_finetune_improves_style_and_keeps_input_model():
    torch.manual_seed(0)
    base = random_sctnet("art", seed=2)
    base.encoder.load_state_dict(build_encoder().state_dict())  # real VGG features
    before = {k: v.clone() for k, v in base.state_dict().items()}
    style = image("hubble", 96)
    contents = [image(n, 96) for n in PHOTOS]

    def style_distance(net: SCTNet) -> float:
        with torch.no_grad():
            out = net(torch.cat(contents), style.expand(3, -1, -1, -1))
            return float(
                style_loss(net.encoder.taps(out), net.encoder.taps(style.expand(3, -1, -1, -1)))
            )

    with torch.inference_mode():  # as inside ComfyUI
        result = finetune(
            base,
            style,
            contents,
            steps=25,
            lr=3e-4,
            crop=64,
            batch_size=2,
            device="cpu",
            precision="fp32",
        )
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    assert style_distance(result.model) < 0.5 * style_distance(base)
    assert result.metadata["ccpl.steps"] == "25"
    assert len(result.metadata["ccpl.style_sha256"]) == 64


def test_finetune_interrupt_keeps_last_step():
    base = random_sctnet("art", seed=2)

    def stop(losses):
        if losses["iteration"] == 3:
            raise KeyboardInterrupt

    result = finetune(
        base,
        image("hubble", 96),
        [image("astronaut", 96)],
        steps=10,
        crop=64,
        batch_size=1,
        device="cpu",
        precision="fp32",
        on_step=stop,
    )
    assert isinstance(result.interrupted, KeyboardInterrupt)
    assert result.metadata["ccpl.steps"] == "3"


@pytest.mark.parametrize(
    "kw,match",
    [({"steps": 0}, "`steps`"), ({"lr": 0.0}, "`lr`: .*> 0"), ({"preset": "x"}, "preset")],
)
def test_finetune_bad_input(kw, match):
    with pytest.raises(InputError, match=match):
        finetune(random_sctnet("art"), image("hubble", 96), [image("astronaut", 96)], **kw)


def test_finetune_tiny_style_rejected():
    with pytest.raises(InputError, match="too small"):
        finetune(random_sctnet("art"), torch.rand(1, 3, 40, 40), [image("astronaut", 96)], steps=1)


def test_train_and_finetune_commands(tmp_path, capsys):
    content, style = tmp_path / "content", tmp_path / "style"
    content.mkdir()
    style.mkdir()
    from ccpl_core.images import save_image

    for n in PHOTOS:
        save_image(image(n, 96), content / f"{n}.png")
    save_image(image("hubble", 96), style / "a.png")
    enc = {f"encoder.{k}": v for k, v in random_sctnet("art").encoder.state_dict().items()}
    save_state(enc, tmp_path / "enc" / "encoder.safetensors")
    args = [
        "train",
        "--content",
        str(content),
        "--style",
        str(style),
        "--encoder",
        str(tmp_path / "enc" / "encoder.safetensors"),
        "--out",
        str(tmp_path / "run"),
        "--iterations",
        "2",
        "--batch-size",
        "1",
        "--crop",
        "64",
        "--resize",
        "96",
        "--workers",
        "0",
        "--precision",
        "fp32",
        "--device",
        "cpu",
    ]
    assert main(args) == 2
    assert "needs several styles" in capsys.readouterr().err
    save_image(image("rocket", 96), style / "b.png")
    model = tmp_path / "enc" / "trained.safetensors"
    assert main([*args, "--export", str(model)]) == 0
    assert main([*args, "--iterations", "3"]) == 2  # exists: must --resume
    assert main([*args, "--iterations", "3", "--resume"]) == 0
    _, meta = read_state(tmp_path / "run" / "latest.safetensors")
    assert meta["ccpl.iteration"] == "3"
    out = tmp_path / "ft.safetensors"
    assert (
        main(
            [
                "finetune",
                "--model",
                str(model),
                "--style",
                str(DATA / "hubble.jpg"),
                "--content",
                str(content),
                "--steps",
                "2",
                "--crop",
                "64",
                "--batch-size",
                "1",
                "--precision",
                "fp32",
                "--device",
                "cpu",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert load_model(out).info["steps"] == "2"


def test_torchrun_ddp_two_processes_on_cpu(tmp_path):
    """Two gloo ranks train in lock-step under torchrun; rank 0 alone logs and checkpoints."""
    import os
    import subprocess
    import sys

    from ccpl_core.images import save_image

    content, style = tmp_path / "content", tmp_path / "style"
    content.mkdir()
    style.mkdir()
    for n in PHOTOS:
        save_image(image(n, 80), content / f"{n}.png")
    save_image(image("hubble", 80), style / "a.png")
    save_image(image("rocket", 80), style / "b.png")
    enc = {f"encoder.{k}": v for k, v in random_sctnet("art").encoder.state_dict().items()}
    save_state(enc, tmp_path / "encoder.safetensors")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29533",
        "-m",
        "ccpl_core",
        "train",
        "--content",
        str(content),
        "--style",
        str(style),
        "--encoder",
        str(tmp_path / "encoder.safetensors"),
        "--out",
        str(tmp_path / "run"),
        "--iterations",
        "2",
        "--batch-size",
        "1",
        "--crop",
        "64",
        "--resize",
        "80",
        "--workers",
        "0",
        "--precision",
        "fp32",
        "--device",
        "cpu",
        "--log-every",
        "1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    _, meta = read_state(tmp_path / "run" / "latest.safetensors")
    assert meta["ccpl.iteration"] == "2"
    log = (tmp_path / "run" / "log.jsonl").read_text().strip().splitlines()
    assert len(log) == 2  # only rank 0 logs
