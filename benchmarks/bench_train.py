"""Seconds per training iteration: ccpl_core's trainer vs the authors' loop run the same way.

The baseline is what the authors' train.py does per iteration: the same network and losses
(content, mean/std style, CCPL with the MLP heads), batch 8 of 256x256 crops, Adam, in fp32 with
the default memory format. ccpl_core's trainer runs the identical computation under bf16 autocast
on CPUs with native bf16 (fp16/bf16 on GPUs) with channels_last tensors.

    python benchmarks/bench_train.py --device cpu --iters 4
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch


def run(pipeline: str, args) -> dict:
    from ccpl_core.models import SCTNet
    from ccpl_core.training import CropSampler, PairBatches, TrainConfig, Trainer

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    images = [(torch.rand(3, 320, 320, generator=gen) * 255).to(torch.uint8) for _ in range(8)]
    sampler = CropSampler(images, args.crop, "bench")
    precision = "fp32" if pipeline == "authors-fp32" else "auto"
    cfg = TrainConfig(
        iterations=10**6,
        batch_size=args.batch,
        crop=args.crop,
        workers=0,
        precision=precision,
        save_every=0,
        log_every=10**6,
    )
    trainer = Trainer(
        SCTNet("art"),
        cfg,
        PairBatches(sampler, sampler, args.batch, 0),
        args.out / "_run",
        device=args.device,
        channels_last=pipeline != "authors-fp32",
    )
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    times = []
    for i in range(args.warmup + args.iters):
        c, s = trainer.batches[i]
        sync()
        t0 = time.perf_counter()
        trainer.step(c, s)
        sync()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    return {
        "median_s_per_iter": statistics.median(times),
        "times": times,
        "dtype": str(trainer.dtype),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--iters", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--tag", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    res = {
        "machine": {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "device": args.device,
            "threads": args.threads,
        },
        "batch": args.batch,
        "crop": args.crop,
    }
    for pipeline in ("authors-fp32", "ccpl"):
        res[pipeline] = run(pipeline, args)
        print(pipeline, res[pipeline], flush=True)
    res["speedup"] = res["authors-fp32"]["median_s_per_iter"] / res["ccpl"]["median_s_per_iter"]
    path = args.out / f"train_{args.tag}.json"
    path.write_text(json.dumps(res, indent=2))
    print(path, "speedup", round(res["speedup"], 2))


if __name__ == "__main__":
    main()
