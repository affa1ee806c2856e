"""One timed training run on a lent GPU machine: packed data in, fp16 weights out.

A GPU machine is lent rarely, for minutes, with no network and a small carry limit, so this
script carries everything with it: the packed training images (``tools/gather_training_data.py
--pack``, ~30 MiB of WebP) and the model to start from. It picks the largest batch that fits,
measures its speed for ~30 s, sizes the learning-rate decay to the iterations that fit the time
budget, and writes fp16 inference weights to ``--out`` every ``--save-minutes`` (an Adam state
would exceed the size of a returned file) and at the end.

    python tools/gpu_train.py --pack data/train_v2_packed.tar \
        --init models/ccpl_open_art.safetensors --stage joint --minutes 8 --out "$OUT"
    # try it on a CPU first: --device cpu --minutes 1 --batch 2 --crop 64
"""

from __future__ import annotations

import argparse
import io
import json
import tarfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ccpl_core.loading import load_model
from ccpl_core.models import SCTNet
from ccpl_core.training import STAGES, CropSampler, PairBatches, TrainConfig, Trainer
from ccpl_core.training.data import MIN_TRAIN_SIDE


def read_pack(pack: Path, kind: str, short_side: int) -> tuple[list[torch.Tensor], list[str]]:
    """uint8 [3, h, w] images of ``kind`` (content/style) and their families, from the tar."""
    images, families = [], []
    with tarfile.open(pack) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            parts = Path(member.name).parts
            if len(parts) < 3 or parts[0] != kind or not member.isfile():
                continue
            with Image.open(io.BytesIO(tar.extractfile(member).read())) as im:
                im = im.convert("RGB")
                scale = short_side / min(im.size)
                if min(im.size) < MIN_TRAIN_SIDE:
                    continue
                size = (
                    max(short_side, round(im.width * scale)),
                    max(short_side, round(im.height * scale)),
                )
                im = im.resize(size, Image.BICUBIC)
                images.append(torch.from_numpy(np.array(im)).permute(2, 0, 1).contiguous())
                families.append(parts[1])
    return images, families


def largest_batch(trainer: Trainer, batches: PairBatches, start: int, limit: int) -> int:
    """Double the batch until a step runs out of memory or ``limit`` is reached."""
    best = 0
    size = start
    while size <= limit:
        batches.batch = size
        try:
            trainer.step(*batches[0])
            best = size
        except torch.OutOfMemoryError:
            break
        finally:
            if trainer.device.type == "cuda":
                torch.cuda.empty_cache()
        size *= 2
    if best == 0:
        raise SystemExit(f"even a batch of {start} does not fit on {trainer.device}")
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pack", required=True, help="packed data (.tar of content/ and style/)")
    ap.add_argument("--init", required=True, help="model to start from (.safetensors)")
    ap.add_argument("--mode", choices=("art", "photo"), default="art")
    ap.add_argument("--stage", choices=STAGES, default="joint")
    ap.add_argument("--minutes", type=float, default=8.0, help="training time budget")
    ap.add_argument("--save-minutes", type=float, default=2.0)
    ap.add_argument("--out", required=True, help="results folder (fp16 weights, log.json)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--resize", type=int, default=288, help="shorter side before cropping")
    ap.add_argument("--batch", type=int, default=0, help="0: the largest power of two that fits")
    ap.add_argument("--max-batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--style-color-aug", type=float, default=0.5)
    args = ap.parse_args()
    t_start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    net: SCTNet = load_model(args.init, mode=args.mode)
    content, cfam = read_pack(Path(args.pack), "content", args.resize)
    style, sfam = read_pack(Path(args.pack), "style", args.resize)
    cfg = TrainConfig(
        mode=args.mode, stage=args.stage, iterations=10**9, batch_size=max(1, args.batch),
        crop=args.crop, resize=args.resize, lr=args.lr, lr_decay=0.0,
        style_color_aug=args.style_color_aug, precision=args.precision, save_every=0, workers=0,
    )  # fmt: skip
    batches = PairBatches(
        CropSampler(content, args.crop, "content", cfam),
        CropSampler(style, args.crop, "style", sfam),
        cfg.batch_size, cfg.seed, style_color_aug=cfg.style_color_aug,
    )  # fmt: skip
    trainer = Trainer(net, cfg, batches, None, device=args.device)
    if args.batch <= 0:
        batches.batch = largest_batch(trainer, batches, 4, args.max_batch)
    log = {
        "device": str(trainer.device),
        "dtype": str(trainer.dtype),
        "batch": batches.batch,
        "images": [len(content), len(style)],
        "load_seconds": time.perf_counter() - t_start,
    }
    if trainer.device.type == "cuda":
        log["gpu"] = torch.cuda.get_device_name(trainer.device)
    budget = args.minutes * 60 - (time.perf_counter() - t_start)
    history: list[dict] = []
    t0 = time.perf_counter()
    last_save = t0
    it = 0
    decay_set = False
    while time.perf_counter() - t0 < budget:
        losses = trainer.step(*batches[it])
        it += 1
        elapsed = time.perf_counter() - t0
        if not decay_set and elapsed > min(30.0, budget / 4):
            # the run's size is known: decay to a third of the learning rate by its end
            total = it * budget / elapsed
            trainer.cfg.lr_decay = 2.0 / max(total, 1.0)
            log["sized_iterations"] = int(total)
            decay_set = True
        if it % 20 == 0:
            history.append({**losses, "seconds": elapsed})
        if time.perf_counter() - last_save > args.save_minutes * 60:
            trainer.export(out / "model_fp32.safetensors")
            _fp16(out / "model_fp32.safetensors", out / "model.safetensors")
            last_save = time.perf_counter()
    trainer.export(out / "model_fp32.safetensors")
    _fp16(out / "model_fp32.safetensors", out / "model.safetensors")
    (out / "model_fp32.safetensors").unlink()
    log |= {"iterations": it, "train_seconds": time.perf_counter() - t0,
            "it_per_second": it / (time.perf_counter() - t0), "history": history}  # fmt: skip
    (out / "log.json").write_text(json.dumps(log, indent=1))
    print(json.dumps({k: v for k, v in log.items() if k != "history"}))


def _fp16(src: Path, dst: Path) -> None:
    from ccpl_core.weights.files import read_state, save_state

    tensors, meta = read_state(src)
    save_state({k: v.half() for k, v in tensors.items()}, dst, meta, overwrite=True)


if __name__ == "__main__":
    main()
